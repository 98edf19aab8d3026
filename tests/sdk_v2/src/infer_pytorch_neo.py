"""A Neo entry script as the published notebooks write it: only `transform_fn`, no `model_fn`.

Shaped after aws-samples/sm-model-serving-patterns, cost_optimization/ptn_1_model-compile
`src/inference_pytorch_neo.py` (the Neo container loads the compiled model itself and hands it
over; the script preprocesses, calls `model.forward` on a tensor and answers a softmax as JSON).
Only the normalisation differs: EfficientNet-Lite0, the workshop's model, was trained on inputs
scaled to [-1, 1] (mean 0.5, std 0.5), not on ImageNet's mean and std.
"""

import io
import json
import logging

import numpy as np
import torch
import torchvision.transforms as transforms
from PIL import Image

logger = logging.getLogger(__name__)
logger.setLevel(logging.DEBUG)


def transform_fn(model, payload, request_content_type="application/octet-stream",
                 response_content_type="application/json"):
    logger.info("Invoking user-defined transform function")

    if request_content_type != "application/octet-stream":
        raise RuntimeError(f"Content type must be application/octet-stream. Provided: {request_content_type}")

    # preprocess
    decoded = Image.open(io.BytesIO(payload)).convert("RGB")
    preprocess = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
    ])
    batchified = preprocess(decoded).unsqueeze(0)

    # predict
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batchified = batchified.to(device)
    result = model.forward(batchified)

    # softmax (assumes batch size 1)
    result = np.squeeze(result.detach().cpu().numpy())
    result_exp = np.exp(result - np.max(result))
    result = result_exp / np.sum(result_exp)

    return json.dumps(result.tolist()), response_content_type
