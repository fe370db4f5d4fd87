#!/usr/bin/env python3
"""Writes the model fixtures that tests/test_model_torch.cpp compares bpr's ResNet and
MobileNetV2 against (the definitions in tests/golden/pytorch_models.py):

    /usr/bin/python3 tests/golden/make_model_fixtures.py tests/fixtures

For each model, at a reduced width so the files stay small:
  <tag>.state.safetensors  the PyTorch state_dict (f32 weights, randomized batch-norm affine
                           parameters and running statistics, I64 counters): bpr loads it by name;
  <tag>.io.safetensors     a fixed batch (x f32, labels), and in float64 (the model run in double):
                           the training-mode logits and loss, the gradients of a few layers (stem
                           conv, a depthwise or strided conv, a shortcut conv, the head, a BN gamma),
                           running statistics after that forward, then one SGD step (lr 0.1,
                           momentum 0.9, weight decay 5e-4) and the loss and logits after it
                           (training mode), and eval-mode logits with the updated statistics.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from pytorch_models import build  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import save  # noqa: E402  (the tiny safetensors writer)

def randomize_batch_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.1 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
                m.num_batches_tracked.fill_(3)


def fixture(out, name, width, watched, seed):
    torch.manual_seed(seed)
    model = build(name, width)
    randomize_batch_norms(model)
    state = model.state_dict()
    tag = f"{name}_w{width}"
    save(f"{out}/{tag}.state.safetensors", state)
    x = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([3, 7, 0, 9])
    model = model.double().train()
    io = {"x": x, "labels": labels.to(torch.int32)}
    logits = model(x.double())
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    io.update({"logits": logits, "loss": loss.reshape(1)})
    params = dict(model.named_parameters())
    for p in watched:
        io[f"grad.{p}"] = params[p].grad
    buffers = dict(model.named_buffers())
    io["bn1.running_mean"] = buffers["bn1.running_mean"].clone()
    io["bn1.running_var"] = buffers["bn1.running_var"].clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt.step()
    with torch.no_grad():
        after = model(x.double())
        io["logits_after_step"] = after
        io["loss_after_step"] = F.cross_entropy(after, labels).reshape(1)
        io["eval_logits_after_step"] = model.eval()(x.double())
    save(f"{out}/{tag}.io.safetensors", io)
    print(f"{tag}: {sum(p.numel() for p in model.parameters()):,} parameters, loss {loss.item():.6f} -> "
          f"{io['loss_after_step'].item():.6f}")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    fixture(out, "resnet20", 0.5, ["conv1.weight", "layer2.0.conv1.weight", "layer3.2.conv2.weight",
                                   "linear.weight", "linear.bias", "bn1.weight", "layer1.0.bn2.bias"], 11)
    fixture(out, "mobilenetv2", 0.25, ["conv1.weight", "layers.1.conv2.weight", "layers.0.shortcut.0.weight",
                                       "layers.16.conv2.weight", "layers.3.conv3.weight", "linear.weight", "bn1.weight"], 12)
