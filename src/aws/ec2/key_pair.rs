//! The apply lock's key pair (see `execute::lock`). These calls use the lock's own
//! client: they are not fenced, since the lock is what arms the fence.

use aws_sdk_ec2::types::{KeyType, ResourceType};

use super::{tag_list, tag_spec, tags_of};
use crate::aws::{gone_ok, send, Aws, AwsError};
use crate::observe::Tags;

impl Aws {
    /// Create the key pair that serves as a plan's apply lock. `Ok(None)` when it
    /// already exists (someone else holds the lock).
    pub async fn create_lock_key(
        &self,
        name: &str,
        tags: &Tags,
    ) -> Result<Option<String>, AwsError> {
        let req = self
            .ec2_lock
            .create_key_pair()
            .key_name(name)
            // ed25519: no RSA key generation between an emulator's duplicate check and
            // its insert (LocalStack's window for two creates of one name to succeed).
            .key_type(KeyType::Ed25519)
            .tag_specifications(tag_spec(ResourceType::KeyPair, tags));
        match send!(req) {
            Ok(out) => Ok(Some(out.key_pair_id().unwrap_or_default().to_string())),
            Err(e) if e.code.as_deref() == Some("InvalidKeyPair.Duplicate") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renew the lease of the lock key pair `id` (its expiry tag).
    pub async fn renew_lock_key(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        send!(self
            .ec2_lock
            .create_tags()
            .resources(id)
            .set_tags(Some(tag_list(tags))))
        .map(|_| ())
    }

    /// The lock key pair of `name`, if it exists: (id, tags).
    pub async fn describe_lock_key(&self, name: &str) -> Result<Option<(String, Tags)>, AwsError> {
        match send!(self.ec2_lock.describe_key_pairs().key_names(name)) {
            Ok(out) => Ok(out.key_pairs().first().map(|k| {
                (
                    k.key_pair_id().unwrap_or_default().to_string(),
                    tags_of(k.tags()),
                )
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Delete the lock key pair named `name` (only while this run's lease is held, or
    /// once it was checked to be ours).
    pub async fn delete_lock_key_by_name(&self, name: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2_lock.delete_key_pair().key_name(name)).map(|_| ()))
    }

    /// Delete a lock key pair by id (not by name: a stale lock that someone else just
    /// replaced must not be deleted by mistake). Emulators that ignore `KeyPairId`
    /// (LocalStack) are detected: if the same key pair is still there, it is deleted by
    /// name.
    pub async fn delete_lock_key(&self, id: &str, name: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2_lock.delete_key_pair().key_pair_id(id)).map(|_| ()))?;
        match self.describe_lock_key(name).await? {
            Some((still, _)) if still == id => self.delete_lock_key_by_name(name).await,
            _ => Ok(()),
        }
    }
}
