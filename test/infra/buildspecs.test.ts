// The two buildspecs (Amazon Linux 2023 and Amazon Linux 2 images) differ only in how Node.js and
// Python get onto the image: every later phase is the same text, so a fix in one cannot miss the other.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { AL2_BUILDSPEC_PATH, BUILDSPEC_PATH } from '../../infra/constructs/dependency-build-project.ts';

interface Buildspec {
  readonly env: { readonly variables: Record<string, string>; readonly 'exported-variables': string[] };
  readonly phases: Record<string, { 'runtime-versions'?: unknown; commands: string[] }>;
}

const read = (path: string): Buildspec => parse(readFileSync(path, 'utf8')) as Buildspec;

describe('the buildspecs', () => {
  it('run the same pre_build, build and post_build phases on both images', () => {
    // Prepare
    const al2023 = read(BUILDSPEC_PATH);
    const al2 = read(AL2_BUILDSPEC_PATH);

    // Act & Assess
    for (const phase of ['pre_build', 'build', 'post_build'])
      expect(al2.phases[phase], phase).toEqual(al2023.phases[phase]);
    expect(al2.env['exported-variables']).toEqual(al2023.env['exported-variables']);
  });

  it('install Node.js on the AL2 image from a pinned glibc 2.17 build, checked against its SHASUMS256', () => {
    // Prepare
    const al2 = read(AL2_BUILDSPEC_PATH);
    const install = al2.phases.install?.commands.join('\n') ?? '';

    // Act & Assess
    expect(al2.phases.install?.['runtime-versions']).toBeUndefined();
    expect(al2.env.variables.NODE_VERSION).toMatch(/^22\.\d+\.\d+$/);
    expect(install).toContain('linux-x64-glibc-217');
    expect(install).toMatch(/SHASUMS256\.txt \| sha256sum -c -/);
  });
});
