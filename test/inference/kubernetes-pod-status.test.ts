/** What each pod status the kubelet and scheduler report means for a launch (states the fake does not walk through). */
import type { V1ContainerState, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podState } from '../../src/inference/kubernetes/pod-status.js';

const pod = (status: V1Pod['status']): V1Pod => ({ metadata: { name: 'p' }, status });
/** A container status that is not ready and never restarted; only its name and state matter here. */
const container = (name: string, state: V1ContainerState): V1ContainerStatus => ({
  name,
  image: 'i',
  imageID: '',
  ready: false,
  restartCount: 0,
  state,
});

describe('podState', () => {
  it('an evicted pod (no container terminated) is a crash with the pod reason', () => {
    expect(
      podState(pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' })),
    ).toEqual({ kind: 'crashed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
  });

  it('an init container that completed is fine; the server still creating is starting', () => {
    const s = podState(
      pod({
        phase: 'Pending',
        initContainerStatuses: [container('fetch-artifact', { terminated: { exitCode: 0, reason: 'Completed' } })],
        containerStatuses: [container('server', { waiting: { reason: 'ContainerCreating' } })],
      }),
    );
    expect(s).toEqual({ kind: 'starting', detail: 'Pending, server: ContainerCreating' });
  });

  it('Ready without an IP yet is still starting', () => {
    expect(podState(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] })).kind).toBe('starting');
    expect(
      podState(pod({ phase: 'Running', podIP: '10.0.0.7', conditions: [{ type: 'Ready', status: 'True' }] })),
    ).toEqual({ kind: 'ready', podIP: '10.0.0.7' });
  });

  it('InvalidImageName and CreateContainerConfigError are broken, not starting', () => {
    for (const reason of ['InvalidImageName', 'CreateContainerConfigError']) {
      expect(
        podState(
          pod({
            phase: 'Pending',
            containerStatuses: [container('server', { waiting: { reason, message: 'm' } })],
          }),
        ),
      ).toEqual({ kind: 'broken', container: 'server', reason, message: 'm' });
    }
  });

  it('a server that exits 0 has crashed all the same (it is meant to keep serving)', () => {
    expect(
      podState(
        pod({
          phase: 'Succeeded',
          containerStatuses: [container('server', { terminated: { exitCode: 0, reason: 'Completed' } })],
        }),
      ),
    ).toMatchObject({ kind: 'crashed', container: 'server', exitCode: 0 });
  });
});
