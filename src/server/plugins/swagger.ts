/** OpenAPI from the zod route schemas (jsonSchemaTransform), served at /openapi.json and /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { App } from '../app.js';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

export function registerSwagger(app: App): void {
  // Registered before the route plugins (avvio keeps order), so its onRoute hook sees them all.
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'evalhook',
        description: 'W&B Automation webhook -> MT-Bench evaluation queue, and the admin API over it.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          webhookToken: { type: 'http', scheme: 'bearer', description: 'WEBHOOK_TOKEN (the W&B webhook access token)' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
