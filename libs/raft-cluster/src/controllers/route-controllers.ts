import { Controller, Type } from '@nestjs/common';
import { ClusterStreamController } from './cluster-stream.controller';
import { ClusterUiController } from './cluster-ui.controller';
import { ClusterController } from './cluster.controller';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import type { ResolvedRaftClusterRoutes } from './routes';

/** `base` served under `prefix`: a subclass carries the path, so two modules in one process can differ. */
function at<T>(base: Type<T>, prefix: string, defaultPrefix: string): Type<T> {
  if (prefix === defaultPrefix) return base;
  const routed = class extends (base as Type<object>) {};
  Object.defineProperty(routed, 'name', { value: base.name });
  Controller(prefix)(routed);
  return routed as Type<T>;
}

export function routeControllers(routes: ResolvedRaftClusterRoutes): Type[] {
  const controllers: Type[] = [];
  if (routes.cluster !== null) controllers.push(...[ClusterController, ClusterStreamController, ClusterUiController].map((c) => at(c as Type, routes.cluster!, 'cluster')));
  if (routes.health !== null) controllers.push(at(HealthController, routes.health, 'health'));
  if (routes.metrics !== null) controllers.push(at(MetricsController, routes.metrics, 'metrics'));
  return controllers;
}
