//! The condition types the operator writes, part of the API users and alerts read.

/// Job condition: the image to validate with is ready (built, or given).
pub const BUILD_READY: &str = "BuildReady";
/// Job condition: the validation pod finished and its result was read.
pub const VALIDATION_COMPLETE: &str = "ValidationComplete";
/// Job condition, with `spec.reuseResults`: True when the verdict was taken from an earlier job
/// with the same inputs (named in its message), False with the reason it could not be.
pub const VALIDATION_REUSED: &str = "ValidationReused";
/// Job and image condition: it succeeded.
pub const READY: &str = "Ready";
/// Job condition: the last reconcile went through; False with the error and the attempt count
/// while one keeps failing.
pub const RECONCILED: &str = "Reconciled";
/// Image condition: the round's image was imported or built, and looked into.
pub const IMAGE_READY: &str = "ImageReady";
/// Image condition: the validation notebooks passed in the round's image.
pub const VALIDATED: &str = "Validated";
/// Image condition: an image is published (this round's, or the last one that passed).
pub const PUBLISHED: &str = "Published";
