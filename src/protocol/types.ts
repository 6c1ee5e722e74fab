// Friendly aliases for the openapi-typescript output in ./api.ts (one per schema of openapi.yaml, "v1" dropped) and runtime enum value lists; imports only ./api.ts, any layer may use it.

// Maintenance: after editing openapi.yaml run `npm run gen:api` and add an alias here for each new schema; test/unit/protocol/openapi.test.ts fails when one is missing.

import type { components, operations, paths } from './api.js';

/** Every schema of openapi.yaml, by its OpenAPI name. */
export type Schemas = components['schemas'];
/** Every route of openapi.yaml, by path template. */
export type Paths = paths;
/** Every operation of openapi.yaml, by operationId (e.g. `SessionService_CreateSession`). */
export type Operations = operations;
export type OperationId = keyof operations;

// ---- messages ----
export type ProtobufAny = Schemas['protobufAny'];
export type RpcStatus = Schemas['rpcStatus'];
/** google.rpc.ErrorInfo, the shape of an `rpcStatus.details` entry whose `@type` is ErrorInfo (e.g. reason EDEADLK). */
export type ErrorInfo = Schemas['rpcErrorInfo'];
export type SourceRef = Schemas['v1SourceRef'];
export type SessionCapabilities = Schemas['v1SessionCapabilities'];
export type Session = Schemas['v1Session'];
export type CreateSessionRequest = Schemas['v1CreateSessionRequest'];
export type ForkSessionRequest = Schemas['v1ForkSessionRequest'];
export type ListSessionsResponse = Schemas['v1ListSessionsResponse'];
export type CasExtent = Schemas['v1CasExtent'];
export type ManifestNode = Schemas['v1ManifestNode'];
export type GetManifestResponse = Schemas['v1GetManifestResponse'];
export type Checkpoint = Schemas['v1Checkpoint'];
export type CreateCheckpointRequest = Schemas['v1CreateCheckpointRequest'];
export type ListCheckpointsResponse = Schemas['v1ListCheckpointsResponse'];
export type RestoreRequest = Schemas['v1RestoreRequest'];
export type RestoreResponse = Schemas['v1RestoreResponse'];
export type Annotation = Schemas['v1Annotation'];
export type AddAnnotationRequest = Schemas['v1AddAnnotationRequest'];
export type AddAnnotationResponse = Schemas['v1AddAnnotationResponse'];
export type ListAnnotationsResponse = Schemas['v1ListAnnotationsResponse'];
export type UpdateAnnotationRequest = Schemas['v1UpdateAnnotationRequest'];
export type UpdateAnnotationResponse = Schemas['v1UpdateAnnotationResponse'];
export type ApprovalDetails = Schemas['v1ApprovalDetails'];
export type RequestApprovalRequest = Schemas['v1RequestApprovalRequest'];
export type RequestApprovalResponse = Schemas['v1RequestApprovalResponse'];
export type GrantApprovalRequest = Schemas['v1GrantApprovalRequest'];
export type GrantApprovalResponse = Schemas['v1GrantApprovalResponse'];
export type DenyApprovalRequest = Schemas['v1DenyApprovalRequest'];
export type DenyApprovalResponse = Schemas['v1DenyApprovalResponse'];
export type Approval = Schemas['v1Approval'];
export type ListApprovalsResponse = Schemas['v1ListApprovalsResponse'];
export type CommitAuthor = Schemas['v1CommitAuthor'];
export type GitBranchTarget = Schemas['v1GitBranchTarget'];
export type CommitRequest = Schemas['v1CommitRequest'];
export type CommitResponse = Schemas['v1CommitResponse'];
export type SessionDiff = Schemas['v1SessionDiff'];
export type SessionDiffResponse = Schemas['v1SessionDiffResponse'];
export type DiffFile = Schemas['v1DiffFile'];
export type SetCacheEntryRequest = Schemas['v1SetCacheEntryRequest'];
export type SetCacheEntryResponse = Schemas['v1SetCacheEntryResponse'];
export type GetCacheEntryResponse = Schemas['v1GetCacheEntryResponse'];
export type DeleteCacheEntryResponse = Schemas['v1DeleteCacheEntryResponse'];
export type PublishRequest = Schemas['v1PublishRequest'];
export type PublishResponse = Schemas['v1PublishResponse'];
export type Message = Schemas['v1Message'];
export type BusStreamItem = Schemas['v1BusStreamItem'];
export type CreateDirectoryRequest = Schemas['v1CreateDirectoryRequest'];
export type CreateDirectoryResponse = Schemas['v1CreateDirectoryResponse'];
export type RemoveDirectoryResponse = Schemas['v1RemoveDirectoryResponse'];
export type DeleteFileResponse = Schemas['v1DeleteFileResponse'];
export type RenameRequest = Schemas['v1RenameRequest'];
export type RenameResponse = Schemas['v1RenameResponse'];
export type DataSegment = Schemas['v1DataSegment'];
export type HoleSegment = Schemas['v1HoleSegment'];
export type BorrowedSegment = Schemas['v1BorrowedSegment'];
export type Segment = Schemas['v1Segment'];
export type SegmentMutation = Schemas['v1SegmentMutation'];
export type WriteOperation = Schemas['v1WriteOperation'];
export type DeleteOperation = Schemas['v1DeleteOperation'];
export type BatchOperation = Schemas['v1BatchOperation'];
export type BatchRequest = Schemas['v1BatchRequest'];
export type BatchResponse = Schemas['v1BatchResponse'];
export type PatchSegmentsRequest = Schemas['v1PatchSegmentsRequest'];
export type PatchSegmentsResponse = Schemas['v1PatchSegmentsResponse'];
export type CreateSymlinkRequest = Schemas['v1CreateSymlinkRequest'];
export type CreateSymlinkResponse = Schemas['v1CreateSymlinkResponse'];
export type SymlinkEntry = Schemas['v1SymlinkEntry'];
export type ListSymlinksResponse = Schemas['v1ListSymlinksResponse'];
export type ReadSymlinkResponse = Schemas['v1ReadSymlinkResponse'];
export type LinkRequest = Schemas['v1LinkRequest'];
export type LinkResponse = Schemas['v1LinkResponse'];
export type UnlinkRequest = Schemas['v1UnlinkRequest'];
export type UnlinkResponse = Schemas['v1UnlinkResponse'];
export type GetCasExtentsRequest = Schemas['v1GetCasExtentsRequest'];
export type GetCasExtentsResponse = Schemas['v1GetCasExtentsResponse'];
export type SetXattrRequest = Schemas['v1SetXattrRequest'];
export type SetXattrResponse = Schemas['v1SetXattrResponse'];
export type ListXattrsRequest = Schemas['v1ListXattrsRequest'];
export type ListXattrsResponse = Schemas['v1ListXattrsResponse'];
export type GetXattrRequest = Schemas['v1GetXattrRequest'];
export type GetXattrResponse = Schemas['v1GetXattrResponse'];
export type RemoveXattrRequest = Schemas['v1RemoveXattrRequest'];
export type RemoveXattrResponse = Schemas['v1RemoveXattrResponse'];
export type PosixLockRange = Schemas['v1PosixLockRange'];
export type PosixLockOwner = Schemas['v1PosixLockOwner'];
export type PosixLock = Schemas['v1PosixLock'];
export type GetPosixLockRequest = Schemas['v1GetPosixLockRequest'];
export type GetPosixLockResponse = Schemas['v1GetPosixLockResponse'];
export type SetPosixLockRequest = Schemas['v1SetPosixLockRequest'];
export type SetPosixLockResponse = Schemas['v1SetPosixLockResponse'];
export type SetPosixLockBlockingRequest = Schemas['v1SetPosixLockBlockingRequest'];
export type FlockRequest = Schemas['v1FlockRequest'];
export type FlockResponse = Schemas['v1FlockResponse'];
export type FunlockRequest = Schemas['v1FunlockRequest'];
export type FunlockResponse = Schemas['v1FunlockResponse'];
export type ReleasePosixLocksOwner = Schemas['v1ReleasePosixLocksOwner'];
export type ReleasePosixLocksRequest = Schemas['v1ReleasePosixLocksRequest'];
export type ReleasePosixLocksResponse = Schemas['v1ReleasePosixLocksResponse'];
export type LockRequest = Schemas['v1LockRequest'];
export type LockResponse = Schemas['v1LockResponse'];
export type RenewLockRequest = Schemas['v1RenewLockRequest'];
export type RenewLockResponse = Schemas['v1RenewLockResponse'];
export type ListLocksRequest = Schemas['v1ListLocksRequest'];
export type FileLock = Schemas['v1FileLock'];
export type ListLocksResponse = Schemas['v1ListLocksResponse'];
export type UnlockRequest = Schemas['v1UnlockRequest'];
export type UnlockResponse = Schemas['v1UnlockResponse'];
export type ForceUnlockRequest = Schemas['v1ForceUnlockRequest'];
export type ForceUnlockResponse = Schemas['v1ForceUnlockResponse'];
export type HealthStatus = Schemas['v1HealthStatus'];
export type GetHealthResponse = Schemas['v1GetHealthResponse'];
export type ReportTestResultsRequest = Schemas['v1ReportTestResultsRequest'];
export type ReportTestResultsResponse = Schemas['v1ReportTestResultsResponse'];
export type SessionAnalytics = Schemas['v1SessionAnalytics'];
export type TenantUsage = Schemas['v1TenantUsage'];
export type CasMetrics = Schemas['v1CasMetrics'];
export type CasCounters = Schemas['v1CasCounters'];
export type DeleteSessionResponse = Schemas['v1DeleteSessionResponse'];
export type RunGcRequest = Schemas['v1RunGcRequest'];
export type GcReport = Schemas['v1GcReport'];
export type StorageReport = Schemas['v1StorageReport'];
export type TenantStorage = Schemas['v1TenantStorage'];
export type MirrorGcReport = Schemas['v1MirrorGcReport'];
export type GitRemoteConfig = Schemas['v1GitRemoteConfig'];
export type CreateSourceRequest = Schemas['v1CreateSourceRequest'];
export type Source = Schemas['v1Source'];
export type ListSourcesResponse = Schemas['v1ListSourcesResponse'];
export type GitImportSpec = Schemas['v1GitImportSpec'];
export type StartImportRequest = Schemas['v1StartImportRequest'];
export type RefreshSourceRequest = Schemas['v1RefreshSourceRequest'];
export type PromoteSessionRequest = Schemas['v1PromoteSessionRequest'];
export type ImportJob = Schemas['v1ImportJob'];
export type SessionEvent = Schemas['v1SessionEvent'];
export type ListEventsResponse = Schemas['v1ListEventsResponse'];
export type SecretMetadata = Schemas['v1SecretMetadata'];
export type ListSecretsResponse = Schemas['v1ListSecretsResponse'];
export type SetSecretRequest = Schemas['v1SetSecretRequest'];
export type SetSecretResponse = Schemas['v1SetSecretResponse'];
export type GetSecretResponse = Schemas['v1GetSecretResponse'];
export type DeleteSecretResponse = Schemas['v1DeleteSecretResponse'];
export type HealthzResponse = Schemas['v1HealthzResponse'];

// ---- enums (string-literal unions) ----
export type SessionStatus = Schemas['v1SessionStatus'];
export type VfsFileType = Schemas['v1VfsFileType'];
export type AnnotationStatus = Schemas['v1AnnotationStatus'];
export type ApprovalState = Schemas['v1ApprovalState'];
export type BusScope = Schemas['v1BusScope'];
export type SegmentConflictPolicy = Schemas['v1SegmentConflictPolicy'];
export type PosixLockKind = Schemas['v1PosixLockKind'];
export type PosixFlockMode = Schemas['v1PosixFlockMode'];
export type HealthStatusStatus = Schemas['v1HealthStatusStatus'];
export type UnderlaySourceKind = Schemas['v1UnderlaySourceKind'];
export type UnderlaySourceStatus = Schemas['v1UnderlaySourceStatus'];
export type UnderlayImportJobState = Schemas['v1UnderlayImportJobState'];
export type SecretScope = Schemas['v1SecretScope'];
export type SessionEventType = Schemas['v1SessionEventType'];
/** Shorter name for {@link VfsFileType}. */
export type FileType = VfsFileType;
/** Shorter name for {@link HealthStatusStatus} (the `status` of a {@link HealthStatus}). */
export type HealthState = HealthStatusStatus;

// ---- enum values at runtime ----
// `exhaustive` rejects a list that misses a member of the union, so these stay in step with openapi.yaml.
type Exhaustive<T extends string, A extends readonly T[]> = [T] extends [A[number]] ? A : never;
const exhaustive = <T extends string>() => <const A extends readonly T[]>(values: Exhaustive<T, A>): A => values;

export const SessionStatusValues = exhaustive<SessionStatus>()(['SESSION_STATUS_UNSPECIFIED', 'SESSION_STATUS_ACTIVE', 'SESSION_STATUS_PENDING_APPROVAL']);
export const VfsFileTypeValues = exhaustive<VfsFileType>()(['VFS_FILE_TYPE_FILE', 'VFS_FILE_TYPE_DIRECTORY', 'VFS_FILE_TYPE_SYMLINK']);
export const AnnotationStatusValues = exhaustive<AnnotationStatus>()(['ANNOTATION_STATUS_OPEN', 'ANNOTATION_STATUS_RESOLVED']);
export const ApprovalStateValues = exhaustive<ApprovalState>()(['APPROVAL_STATE_PENDING', 'APPROVAL_STATE_GRANTED', 'APPROVAL_STATE_DENIED']);
export const BusScopeValues = exhaustive<BusScope>()(['BUS_SCOPE_SESSION_ONLY', 'SESSION_ONLY']);
export const SegmentConflictPolicyValues = exhaustive<SegmentConflictPolicy>()(['SEGMENT_CONFLICT_POLICY_ABORT_ON_CONFLICT', 'SEGMENT_CONFLICT_POLICY_SKIP_CONFLICTING']);
export const PosixLockKindValues = exhaustive<PosixLockKind>()(['POSIX_LOCK_KIND_SHARED', 'POSIX_LOCK_KIND_EXCLUSIVE']);
export const PosixFlockModeValues = exhaustive<PosixFlockMode>()(['POSIX_FLOCK_MODE_SHARED', 'POSIX_FLOCK_MODE_EXCLUSIVE', 'POSIX_FLOCK_MODE_UNLOCK']);
export const HealthStatusStatusValues = exhaustive<HealthStatusStatus>()(['STATUS_UNKNOWN', 'STATUS_PASSING', 'STATUS_FAILING']);
export const UnderlaySourceKindValues = exhaustive<UnderlaySourceKind>()(['UNDERLAY_SOURCE_KIND_GIT_REMOTE']);
export const UnderlaySourceStatusValues = exhaustive<UnderlaySourceStatus>()(['UNDERLAY_SOURCE_STATUS_PENDING', 'UNDERLAY_SOURCE_STATUS_IMPORTING', 'UNDERLAY_SOURCE_STATUS_READY', 'UNDERLAY_SOURCE_STATUS_FAILED']);
export const UnderlayImportJobStateValues = exhaustive<UnderlayImportJobState>()(['UNDERLAY_IMPORT_JOB_STATE_QUEUED', 'UNDERLAY_IMPORT_JOB_STATE_RUNNING', 'UNDERLAY_IMPORT_JOB_STATE_SUCCEEDED', 'UNDERLAY_IMPORT_JOB_STATE_FAILED']);
export const SecretScopeValues = exhaustive<SecretScope>()(['SECRET_SCOPE_SESSION', 'SECRET_SCOPE_TENANT']);
export const SessionEventTypeValues = exhaustive<SessionEventType>()(['v1.SessionService.CreateSession', 'v1.SessionService.ForkSession', 'v1.SessionService.CreateCheckpoint', 'v1.SessionService.RestoreCheckpoint', 'v1.SessionService.Commit', 'v1.FileSystemService.Batch', 'v1.FileSystemService.PatchSegments', 'v1.FileSystemService.Rename', 'v1.FileSystemService.CreateDirectory', 'v1.FileSystemService.RemoveDirectory', 'v1.FileSystemService.DeleteFile', 'v1.FileSystemService.CreateSymlink', 'v1.FileSystemService.Link', 'v1.FileSystemService.Unlink', 'v1.FileSystemService.SetXattr', 'v1.FileSystemService.RemoveXattr', 'v1.AnnotationService.AddAnnotation', 'v1.AnnotationService.UpdateAnnotation', 'v1.ApprovalService.RequestApproval', 'v1.ApprovalService.GrantApproval', 'v1.ApprovalService.DenyApproval', 'v1.LockService.Lock', 'v1.LockService.Unlock', 'v1.LockService.ForceUnlock', 'v1.HealthService.ReportTestResults', 'v1.SecretService.SetSecret', 'v1.SecretService.DeleteSecret']);
