// A synthesized-template stand-in whose one role may do anything, for twin tests where only the
// service limits (not IAM) may refuse a call: the bucket, the role and its policy, plus the
// resources a test names.

/** The template with `resources` added beside the bucket and the all-allowing `StepRole`. */
export function allowAllTemplate(resources: Record<string, unknown>): { Resources: Record<string, unknown> } {
  return {
    Resources: {
      ArtifactsBucket: { Type: 'AWS::S3::Bucket' },
      StepRole: { Type: 'AWS::IAM::Role' },
      StepPolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          Roles: [{ Ref: 'StepRole' }],
          PolicyDocument: { Statement: [{ Sid: 'All', Effect: 'Allow', Action: '*', Resource: '*' }] },
        },
      },
      ...resources,
    },
  };
}
