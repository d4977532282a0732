import { runService } from '@msctl/kit';
import { usersService } from './service';

await runService(usersService);
