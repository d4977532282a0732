import { runService } from '@msctl/kit';
import { notificationsService } from './service';

await runService(notificationsService);
