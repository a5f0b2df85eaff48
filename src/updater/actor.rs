//! The updater's shell side. It carries out the outputs that are IO — it
//! asks the backend's catalog, downloads the image, checks it and hands it
//! to the reader's connection — and hands every other output to its owner
//! (the reader session), in order. Its timers are the runtime shell's
//! (`ctx.run_later`), so the shell decides nothing: every answer goes back
//! to the machine as an input, and is traced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;

use super::machine::Updater;
use super::messages::{IntegrityCheck, UpdaterInput, UpdaterOutput, UpdaterPolicy};
use super::update::{ReaderSoftwareUpdate, Sha256Digest};
use crate::backend::{Backend, UpdateQuery};
use crate::connection::ImageSlot;
use crate::firmware::{self, Expectation, SignedManifest, TrustedKeys};
use crate::reader::{DeviceType, SerialNumber};
use crate::runtime::shell::{Clock, EffectContext, Effects, MachineActor, RestartPolicy};
use crate::runtime::trace::Tracer;

/// An updater actor: the [`Updater`] machine run by its shell.
pub type UpdaterActor = MachineActor<Updater, UpdaterEffects>;

/// Where an updater's outputs for its owner go: called on the actor, in
/// order.
pub type UpdaterOutputFn = Rc<dyn Fn(UpdaterOutput)>;

/// Carries out an updater's outputs.
pub struct UpdaterEffects {
    serial: SerialNumber,
    backend: Arc<dyn Backend>,
    owner: UpdaterOutputFn,
    /// The keys an update's manifest must be signed with (R19).
    trusted: Arc<TrustedKeys>,
    /// What the catalog was last asked about: the reader's model and the
    /// software it runs (an image must not be older, R19).
    reader: Rc<RefCell<Option<(DeviceType, String)>>>,
    /// The signed manifests the catalog sent, by version.
    manifests: Rc<RefCell<HashMap<String, SignedManifest>>>,
    /// The image downloaded and not yet checked.
    downloaded: Rc<RefCell<Option<Vec<u8>>>>,
    /// Where a checked image goes for the connection to send.
    image: ImageSlot,
}

impl UpdaterEffects {
    /// Effects for the reader `serial`: the catalog and images from
    /// `backend`, checked images into `image`, other outputs to `owner`.
    pub fn new(
        serial: SerialNumber,
        backend: Arc<dyn Backend>,
        image: ImageSlot,
        owner: UpdaterOutputFn,
        trusted: Arc<TrustedKeys>,
    ) -> Self {
        Self {
            serial,
            backend,
            owner,
            trusted,
            reader: Rc::default(),
            manifests: Rc::default(),
            downloaded: Rc::default(),
            image,
        }
    }
}

/// The checks the host makes on a downloaded image before any byte of it
/// goes to the reader (R19): its size, then its digest, against what the
/// catalog said of the update.
pub fn check_image(update: &ReaderSoftwareUpdate, image: &[u8]) -> Result<(), IntegrityCheck> {
    if image.len() != update.size as usize {
        return Err(IntegrityCheck::Size);
    }
    if Sha256Digest::of(image) != update.sha256 {
        return Err(IntegrityCheck::Digest);
    }
    Ok(())
}

/// Every check of an update's image before any byte of it goes to the
/// reader (R19): the signed manifest ([`firmware::verify`]: a trusted key's
/// signature, expiry, device type, no rollback, size, digest), that the
/// manifest is the update's, and [`check_image`]. No manifest is a failed
/// signature check: an unsigned image is never installed.
pub fn verify_update(
    update: &ReaderSoftwareUpdate,
    manifest: Option<&SignedManifest>,
    image: &[u8],
    trusted: &TrustedKeys,
    expectation: &Expectation,
) -> Result<(), IntegrityCheck> {
    let manifest = manifest.ok_or(IntegrityCheck::Signature)?;
    firmware::verify(manifest, image, trusted, expectation).map_err(|e| e.check())?;
    let signed = &manifest.manifest;
    if signed.version != update.version {
        // Signed, but not for this update.
        return Err(IntegrityCheck::Signature);
    }
    check_image(update, image)
}

impl Effects<Updater> for UpdaterEffects {
    fn perform(&mut self, output: UpdaterOutput, ctx: &mut EffectContext<'_, Updater, Self>) {
        match output {
            UpdaterOutput::CheckCatalog {
                location,
                device_type,
                software_version,
            } => {
                *self.reader.borrow_mut() = Some((device_type, software_version.clone()));
                let backend = self.backend.clone();
                let query = UpdateQuery {
                    location,
                    serial_number: self.serial.clone(),
                    device_type,
                    software_version,
                };
                let serial = self.serial.clone();
                let manifests = self.manifests.clone();
                ctx.spawn_then("backend", async move {
                    Some(match backend.check_update(query).await {
                        Ok(answer) => {
                            if let (Some(update), Some(manifest)) = (&answer.update, answer.manifest) {
                                manifests.borrow_mut().insert(update.version.clone(), manifest);
                            }
                            UpdaterInput::CatalogAnswered {
                                update: answer.update,
                                last_latest_run_at: answer.last_latest_run_at,
                            }
                        }
                        Err(error) => {
                            tracing::warn!(reader = %serial, "the update catalog failed: {error}");
                            UpdaterInput::CatalogUnavailable
                        }
                    })
                });
            }
            UpdaterOutput::DownloadImage { device_type, update } => {
                let backend = self.backend.clone();
                let slot = self.downloaded.clone();
                let serial = self.serial.clone();
                ctx.spawn_then("backend", async move {
                    Some(match backend.download_update(device_type, &update.version, 0).await {
                        Ok(image) => {
                            *slot.borrow_mut() = Some(image);
                            UpdaterInput::ImageDownloaded
                        }
                        Err(error) => {
                            tracing::warn!(reader = %serial, version = %update.version, "the update image could not be downloaded: {error}");
                            UpdaterInput::DownloadFailed
                        }
                    })
                });
            }
            UpdaterOutput::VerifyImage(update) => {
                let image = self.downloaded.borrow_mut().take().unwrap_or_default();
                let (device_type, installed_version) = self
                    .reader
                    .borrow()
                    .clone()
                    .unwrap_or((DeviceType::StripeM2, String::new()));
                let expectation = Expectation {
                    device_type,
                    installed_version,
                    now: ctx.now(),
                };
                let manifests = self.manifests.borrow();
                let manifest = manifests.get(&update.version);
                let input = match verify_update(&update, manifest, &image, &self.trusted, &expectation) {
                    Ok(()) => {
                        *self.image.borrow_mut() = Some(image.into());
                        UpdaterInput::ImageVerified
                    }
                    Err(check) => {
                        tracing::warn!(reader = %self.serial, version = %update.version, "the update image failed its {check} check");
                        UpdaterInput::ImageRejected { check }
                    }
                };
                ctx.spawn_then("verify", async move { Some(input) });
            }
            output => (self.owner)(output),
        }
    }

    /// A fresh updater starts `not_connected`; the reader's next connect
    /// checks the catalog again.
    fn machine_restarted(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Updater, Self>) {
        tracing::error!(reader = %self.serial, "the updater restarted: {panic}");
    }

    fn machine_gave_up(&mut self, panic: &str, _ctx: &mut EffectContext<'_, Updater, Self>) {
        tracing::error!(reader = %self.serial, "the updater failed for good: {panic}");
    }
}

/// What an updater needs to start.
pub struct UpdaterParts {
    /// Which reader.
    pub serial: SerialNumber,
    /// How it installs.
    pub policy: UpdaterPolicy,
    /// The catalog and the images.
    pub backend: Arc<dyn Backend>,
    /// Where checked images go for the reader's connection.
    pub image: ImageSlot,
    /// Where the outputs that are not IO go.
    pub owner: UpdaterOutputFn,
    /// The run's trace.
    pub tracer: Tracer,
    /// The run's clock.
    pub clock: Clock,
    /// The keys an update's manifest must be signed with (R19).
    pub trusted: Arc<TrustedKeys>,
}

/// Starts an updater on the current arbiter, restarted after a panic once
/// in five seconds. Its id in the trace is `updater:<serial>`.
pub fn start_updater(parts: UpdaterParts) -> Addr<UpdaterActor> {
    let UpdaterParts {
        serial,
        policy,
        backend,
        image,
        owner,
        tracer,
        clock,
        trusted,
    } = parts;
    let id = format!("updater:{serial}");
    let effects = UpdaterEffects::new(serial, backend, image, owner, trusted);
    MachineActor::new(id, Updater::new(policy), effects, tracer, clock)
        .restart_with(RestartPolicy::erlang_default(move || Updater::new(policy)))
        .start()
}
