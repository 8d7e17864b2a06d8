"""Class activation maps with pytorch-grad-cam (``grad-cam`` on PyPI), computed on a private copy of the model.

Methods (``METHODS``): Grad-CAM (channel weights = spatial mean of the class score's gradient), Grad-CAM++
(weights from second- and third-order gradient terms), LayerCAM (positive gradient times activation, per
position) and EigenCAM (gradient-free: the activations' first principal component). The library's classes
provide each method's weighting (``get_cam_weights`` / ``get_cam_image``); prepscope runs the forward and the
backward itself so the maps keep their raw magnitude (the library's ``__call__`` rescales every map to
[0, 1] on its own, which would hide how much evidence each variant has and forbid one color scale). Maps
are ReLU-ed and upsampled bilinearly to the network input.

EigenCAM uses a thin SVD (the library's full SVD builds a positions x positions matrix: 12,544² floats for
the stem), and since a principal component's sign is arbitrary, the sign that makes the map correlate
positively with the layer's mean activation over channels (the salient side is where the layer is most
active; the library's own rules flip between two sizes of the same image).

Isolation: the shared model is deep-copied under its lock for each request; the copy gets the library's
hooks, the input gets ``requires_grad`` (the copy's parameters keep ``requires_grad=False``, so no
parameter ever holds a ``.grad``), and the hooks are removed before returning. Nothing of the request is
visible on the shared module.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import PrepscopeError

METHODS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM (gradient-free)",
}


class InvalidCam(PrepscopeError):
    """An activation-map request that cannot be served (unknown method, layer or class)."""


def _classes() -> dict:
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM

    class ThinEigenCAM(EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, targets, activations, grads, eigen_smooth):
            a = torch.from_numpy(np.nan_to_num(np.asarray(activations, dtype=np.float64)))
            n, c, h, w = a.shape
            m = a.reshape(n, c, h * w).transpose(1, 2)
            m = m - m.mean(dim=1, keepdim=True)
            _, _, vh = torch.linalg.svd(m, full_matrices=False)
            proj = (m @ vh[:, 0, :, None])[..., 0]
            energy = a.reshape(n, c, h * w).mean(dim=1)
            energy = energy - energy.mean(dim=1, keepdim=True)
            flip = (proj * energy).sum(dim=1) < 0  # the side where the layer is most active is positive
            proj = torch.where(flip[:, None], -proj, proj)
            return proj.reshape(n, h, w).float().numpy()

    return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM, "eigencam": ThinEigenCAM}


def check_request(model, method: str, layer: str | None, class_index: int | None = None) -> str:
    """Validate a request; return the layer name (default: the model's last named layer)."""
    if method not in METHODS:
        raise InvalidCam(f"Unknown activation-map method {method!r}; choose {', '.join(METHODS)}.")
    names = model.layer_names
    layer = names[-1] if layer is None else layer
    if layer not in names:
        raise InvalidCam(f"Unknown layer {layer!r} for {model.name}; choose {', '.join(names)}.")
    if next(lay for lay in model.layers if lay.name == layer).path is None:
        raise InvalidCam(f"{model.name} does not say which module is layer {layer!r}.")
    if class_index is not None and not 0 <= int(class_index) < len(model.labels):
        raise InvalidCam(f"Class index {class_index} is out of range; {model.name}'s classes are 0 to "
                         f"{len(model.labels) - 1}.")
    return layer


def cam_maps(model, batch: torch.Tensor, layer: str, classes: Sequence[int], method: str = "gradcam") -> np.ndarray:
    """Raw activation maps (N, H, W) float32 >= 0 at input resolution for a normalized batch (N, 3, H, W),
    one target class per item, computed on a private copy of ``model`` (see the module docstring)."""
    layer = check_request(model, method, layer)
    path = next(lay.path for lay in model.layers if lay.name == layer)
    with model.lock:
        module = copy.deepcopy(model.module)
    # token networks (ViT): the block's tokens on their patch grid, prefix tokens dropped (read from the model)
    cam = _classes()[method](model=module, target_layers=[module.get_submodule(path)],
                             reshape_transform=getattr(model, "reshape_transform", None))
    try:
        x = batch.detach().clone().to(model.device).contiguous(memory_format=torch.channels_last)
        idx = torch.as_tensor(list(classes), dtype=torch.long, device=x.device)
        with torch.enable_grad():
            x.requires_grad_(cam.uses_gradients)
            logits = cam.activations_and_grads(x)
            if cam.uses_gradients:
                logits.gather(1, idx[:, None]).sum().backward()
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy() if cam.uses_gradients else None
        raw = cam.get_cam_image(x, None, None, acts, grads, False)
    finally:
        cam.activations_and_grads.release()
    raw = torch.from_numpy(np.maximum(np.asarray(raw, dtype=np.float32), 0.0))[:, None]
    up = F.interpolate(raw, size=tuple(batch.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    return up.clamp_min(0.0).numpy()
