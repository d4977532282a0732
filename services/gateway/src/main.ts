import { runService } from '@msctl/kit';
import { gatewayService } from './service';

await runService(gatewayService);
