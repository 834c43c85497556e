/**
 * What a pod's status means for the launch: still starting, unschedulable (the scheduler's message),
 * an image or container-config problem no retry fixes, a crashed container (whose log to read), or
 * ready at an IP. Pure, so every state the kubelet reports is tested without a cluster.
 */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

export type PodState =
  | { kind: 'starting'; detail: string }
  | { kind: 'unschedulable'; message: string }
  /** Image pull or container configuration: the profile or cluster must change. */
  | { kind: 'broken'; container: string; reason: string; message: string }
  | { kind: 'crashed'; container?: string; exitCode?: number; reason: string; message: string }
  | { kind: 'ready'; podIP: string };

const IMAGE_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

function statuses(pod: V1Pod): Array<{ init: boolean; s: V1ContainerStatus }> {
  return [
    ...(pod.status?.initContainerStatuses ?? []).map((s) => ({ init: true, s })),
    ...(pod.status?.containerStatuses ?? []).map((s) => ({ init: false, s })),
  ];
}

export function podState(pod: V1Pod): PodState {
  const all = statuses(pod);
  for (const { init, s } of all) {
    const t = s.state?.terminated;
    // An init container that finished cleanly did its job; a server that exits at all has crashed.
    if (t && (!init || t.exitCode !== 0))
      return {
        kind: 'crashed',
        container: s.name,
        exitCode: t.exitCode,
        reason: t.reason ?? 'Error',
        message: t.message ?? '',
      };
  }
  if (pod.status?.phase === 'Failed')
    return { kind: 'crashed', reason: pod.status.reason ?? 'Failed', message: pod.status.message ?? 'the pod failed' };
  for (const { s } of all) {
    const w = s.state?.waiting;
    if (w?.reason && (IMAGE_REASONS.has(w.reason) || CONFIG_REASONS.has(w.reason)))
      return { kind: 'broken', container: s.name, reason: w.reason, message: w.message ?? '' };
  }
  const conditions = pod.status?.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable')
    return { kind: 'unschedulable', message: scheduled.message ?? 'no node fits the pod' };
  const ready = conditions.find((c) => c.type === 'Ready');
  if (ready?.status === 'True' && pod.status?.podIP) return { kind: 'ready', podIP: pod.status.podIP };
  const waiting = all
    .map(({ s }) => s.state?.waiting?.reason && `${s.name}: ${s.state.waiting.reason}`)
    .filter(Boolean);
  return { kind: 'starting', detail: [pod.status?.phase ?? 'Pending', ...waiting].join(', ') };
}
