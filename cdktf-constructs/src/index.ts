export { AllowedIpList, AllowedIpListProps } from './allowed-ip-list';
export { ControlPlane, ControlPlaneProps } from './control-plane';
export { TrunkPropsError } from './errors';
export { ReconcileRunner, ReconcilerResourceType } from './reconciler-resource';
export { SmsTrunk, SmsTrunkProps } from './sms-trunk';
export { ISourceDidSet, SourceDidSet, SourceDidSetProps } from './source-did-set';
