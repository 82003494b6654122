"""The lab's losses for the face classifier and the DB-VAE, and the trainer's loss functions.

`vae_loss`, `classification_loss` and `debiasing_loss` are the lab's definitions on
tensors; `cnn_loss` and `dbvae_loss` wrap them as ``loss_fn(model, batch, training)``
for the shared `tfdl.training.Trainer`.
"""

from keras import ops


def vae_loss(x, x_recon, z_mean, z_logvar, kl_weight=5e-4):
    """Per-image VAE loss, shape (batch,): kl_weight * KL(N(mean, var) || N(0, I)) + mean |x - x̂|.

    KL = 0.5 * sum_j (exp(logvar_j) + mean_j^2 - 1 - logvar_j); the reconstruction
    error is the mean absolute difference over height, width and channels.
    """
    latent = 0.5 * ops.sum(ops.exp(z_logvar) + ops.square(z_mean) - 1.0 - z_logvar, axis=1)
    reconstruction = ops.mean(ops.abs(x - x_recon), axis=(1, 2, 3))
    return kl_weight * latent + reconstruction


def classification_loss(y, y_logit):
    """Per-image sigmoid cross-entropy from logits, shape (batch,)."""
    y = ops.reshape(ops.cast(y, y_logit.dtype), (-1,))
    logits = ops.reshape(y_logit, (-1,))
    # The stable form: max(l, 0) - l y + log(1 + exp(-|l|)), as tf.nn.sigmoid_cross_entropy.
    return ops.relu(logits) - logits * y + ops.log1p(ops.exp(-ops.abs(logits)))


def debiasing_loss(x, x_recon, y, y_logit, z_mean, z_logvar, kl_weight=5e-4):
    """The DB-VAE loss: ``(mean over batch of class loss + face * VAE loss, class loss (b,))``.

    Only faces (y == 1) carry a VAE loss: the decoder learns faces, not everything else.

    The lab's TensorFlow code means the same, but its labels and logits are (batch, 1)
    while its VAE loss is (batch,), so ``class_loss + face * vae_loss`` broadcasts to a
    (batch, batch) matrix, and its mean pairs every image's face label with every other
    image's VAE loss: mean(class) + mean(face) * mean(vae). tfdl flattens both to
    (batch,), so each face carries its own VAE loss, as the lab's text describes.
    """
    class_loss = classification_loss(y, y_logit)
    face = ops.cast(ops.equal(ops.reshape(ops.cast(y, "float32"), (-1,)), 1.0), "float32")
    total = ops.mean(class_loss + face * vae_loss(x, x_recon, z_mean, z_logvar, kl_weight))
    return total, class_loss


def _accuracy(y, y_logit):
    predicted = ops.cast(ops.reshape(y_logit, (-1,)) > 0, "float32")
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(y, "float32")), "float32"))


def cnn_loss(model, batch, training):
    """Mean sigmoid cross-entropy of the face logit, and accuracy."""
    images, labels = batch  # (batch, 64, 64, 3), (batch,)
    logits = model(images, training=training)  # (batch, 1)
    loss = ops.mean(classification_loss(labels, logits))
    return loss, {"accuracy": _accuracy(labels, logits)}


def dbvae_loss(kl_weight=5e-4):
    """The DB-VAE's ``loss_fn`` for the trainer: `debiasing_loss`, class loss, accuracy."""

    def loss_fn(model, batch, training):
        images, labels = batch
        y_logit, z_mean, z_logvar, recon = model(images, training=training)
        total, class_loss = debiasing_loss(
            images, recon, labels, y_logit, z_mean, z_logvar, kl_weight
        )
        return total, {"class_loss": ops.mean(class_loss), "accuracy": _accuracy(labels, y_logit)}

    return loss_fn
