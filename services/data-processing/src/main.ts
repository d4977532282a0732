import { runService } from '@msctl/kit';
import { dataProcessingService } from './service';

await runService(dataProcessingService);
