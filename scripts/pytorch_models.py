#!/usr/bin/env python3
"""PyTorch definitions of the CIFAR ResNets and MobileNetV2 that bpr's models/resnet.h and
models/mobilenetv2.h reproduce: the same module names, shapes and forward as the widely used
akamaster/pytorch_resnet_cifar10 (option-A shortcuts) and kuangliu/pytorch-cifar (MobileNetV2)
definitions, written here for bpr's checks, with bpr's width multiplier (max(1, round(c * w)))
added. At width 1 they are those definitions.

    /usr/bin/python3 scripts/pytorch_models.py          # prints the parameter counts

Used by the checks (tests/golden/make_model_fixtures.py, check_torch_load.py) and as the peer
of `bpr bench train-step --model resnet56` / `--model mobilenetv2` (scripts/bench_pytorch.py).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled(c, width):
    # round half to even is Python's; bpr's llround rounds half away from zero. No width
    # used by the checks lands on a half.
    return max(1, int(round(c * width)))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.planes, self.pad = stride, planes, stride != 1 or cin != planes

    def shortcut(self, x):
        if not self.pad:
            return x
        x = x[:, :, ::self.stride, ::self.stride]
        front = (self.planes - x.shape[1]) // 2
        return F.pad(x, (0, 0, 0, 0, front, self.planes - x.shape[1] - front))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depth=20, width=1.0, num_classes=10, in_channels=3):
        super().__init__()
        assert (depth - 2) % 6 == 0
        n = (depth - 2) // 6
        c = scaled(16, width)
        self.conv1 = nn.Conv2d(in_channels, c, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        for stage in range(3):
            planes = scaled(16 << stage, width)
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c, planes, 2 if stage > 0 and b == 0 else 1))
                c = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.shape[3])
        return self.linear(out.flatten(1))


class Block(nn.Module):
    def __init__(self, cin, cout, expansion, stride):
        super().__init__()
        planes = expansion * cin
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNetV2(nn.Module):
    STAGES = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1)]

    def __init__(self, width=1.0, num_classes=10, in_channels=3):
        super().__init__()
        c = scaled(32, width)
        self.conv1 = nn.Conv2d(in_channels, c, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        blocks = []
        for t, ch, n, s in self.STAGES:
            for b in range(n):
                out = scaled(ch, width)
                blocks.append(Block(c, out, t, s if b == 0 else 1))
                c = out
        self.layers = nn.Sequential(*blocks)
        head = scaled(1280, width)
        self.conv2 = nn.Conv2d(c, head, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(head)
        self.linear = nn.Linear(head, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.relu(self.bn2(self.conv2(out)))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(out.flatten(1))


def build(name, width=1.0, num_classes=10, in_channels=3):
    if name.startswith("resnet"):
        return ResNet(int(name[6:]), width, num_classes, in_channels)
    if name == "mobilenetv2":
        return MobileNetV2(width, num_classes, in_channels)
    raise ValueError(f"unknown model {name}")


def prunable(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


if __name__ == "__main__":
    for name in ("resnet20", "resnet56", "mobilenetv2"):
        m = build(name)
        print(f"{name}: {sum(p.numel() for p in m.parameters()):,} parameters, {prunable(m):,} prunable")
