import { runService } from '@msctl/kit';
import { analyticsService } from './service';

await runService(analyticsService);
