"""A small ShuffleNetV2-style single-stage detector with one anchor-free stride-8 head.

One output stride keeps the head, the assignment and the ONNX graph simple: stride 8 finds
12-30 px signs, and the stride-16/32 features are upsampled into it so 150 px signs still fit in
the receptive field. Per cell the head predicts objectness, 43 class logits and a box as
(dx, dy, log w, log h) relative to the cell centre in stride units.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE = 8
MAX_STRIDE = 32  # input sides must be multiples of this, or the neck's upsampled maps do not line up


def check_input_size(h, w):
    """Raise a clear error for an input the network cannot take."""
    if h <= 0 or w <= 0 or h % MAX_STRIDE or w % MAX_STRIDE:
        raise ValueError(f"input {h}x{w}: height and width must be positive multiples of {MAX_STRIDE}")


def conv_bn(cin, cout, k=1, s=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def channel_shuffle(x):
    b, c, h, w = x.shape
    return x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        mid = cout // 2
        bin_ = cin if stride == 2 else cin // 2
        self.branch = nn.Sequential(conv_bn(bin_, mid), conv_bn(mid, mid, 3, stride, groups=mid, act=False),
                                    conv_bn(mid, mid))
        if stride == 2:
            self.short = nn.Sequential(conv_bn(cin, cin, 3, 2, groups=cin, act=False), conv_bn(cin, mid))

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat([a, self.branch(b)], 1)
        else:
            out = torch.cat([self.short(x), self.branch(x)], 1)
        return channel_shuffle(out)


def stage(cin, cout, n):
    return nn.Sequential(ShuffleBlock(cin, cout, 2), *[ShuffleBlock(cout, cout, 1) for _ in range(n - 1)])


class DWBlock(nn.Module):
    """Depthwise 5x5 + pointwise: cheap large receptive field for the neck and head."""

    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c, 5, groups=c, act=False), conv_bn(c, c))

    def forward(self, x):
        return self.body(x)


class SignDetector(nn.Module):
    def __init__(self, num_classes=43, widths=(24, 64, 128, 256), neck=64, depths=(4, 6, 3)):
        super().__init__()
        self.num_classes = num_classes
        self.config = dict(num_classes=num_classes, widths=tuple(widths), neck=neck, depths=tuple(depths))
        # 4x4/4 patchify stem: on CPU a full-resolution 3x3 conv + max-pool cost more than the
        # whole rest of the network in training; a linear 4x4 patch loses no pixel information.
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, 4, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        self.s8 = stage(widths[0], widths[1], depths[0])
        self.s16 = stage(widths[1], widths[2], depths[1])
        self.s32 = stage(widths[2], widths[3], depths[2])
        self.lat32 = conv_bn(widths[3], neck)
        self.lat16 = conv_bn(widths[2], neck)
        self.lat8 = conv_bn(widths[1], neck)
        self.fuse16 = DWBlock(neck)
        self.fuse8 = nn.Sequential(DWBlock(neck), DWBlock(neck))
        self.pred = nn.Conv2d(neck, 1 + 4 + num_classes, 1)
        nn.init.constant_(self.pred.bias[:1], -4.6)  # prior p=0.01 for objectness
        nn.init.constant_(self.pred.bias[5:], -2.0)
        nn.init.normal_(self.pred.weight, std=0.01)

    def forward(self, x):
        """x: float [B,3,H,W] in 0..1 -> raw map [B, 5+C, H/8, W/8]."""
        x = (x - 0.45) / 0.25
        c8 = self.s8(self.stem(x))
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.fuse16(self.lat16(c16) + F.interpolate(self.lat32(c32), scale_factor=2, mode="nearest"))
        p8 = self.fuse8(self.lat8(c8) + F.interpolate(p16, scale_factor=2, mode="nearest"))
        return self.pred(p8)


def grid_centres(h, w, device=None):
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([(xs.reshape(-1) + 0.5) * STRIDE, (ys.reshape(-1) + 0.5) * STRIDE], 1).float()


def decode(raw):
    """raw [B,5+C,h,w] -> obj logits [B,N], cls logits [B,N,C], boxes xyxy [B,N,4] in input px."""
    b, ch, h, w = raw.shape
    r = raw.flatten(2).transpose(1, 2)  # B,N,5+C
    pts = grid_centres(h, w, raw.device)
    cxy = pts + r[..., 1:3] * STRIDE
    wh = torch.exp(r[..., 3:5].clamp(-4, 5)) * STRIDE
    boxes = torch.cat([cxy - wh / 2, cxy + wh / 2], -1)
    return r[..., 0], r[..., 5:], boxes


class ExportWrapper(nn.Module):
    """uint8 NHWC RGB in -> YOLOv8-layout [1, 4+C, N] (cx, cy, w, h, class scores) out."""

    def __init__(self, net, h, w):
        super().__init__()
        self.net = net
        hs, ws = h // STRIDE, w // STRIDE
        self.register_buffer("pts", grid_centres(hs, ws))

    def forward(self, img):
        x = img.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        raw = self.net(x).flatten(2)  # 1, 5+C, N
        cxy = self.pts.t().unsqueeze(0) + raw[:, 1:3] * STRIDE
        wh = torch.exp(raw[:, 3:5].clamp(-4, 5)) * STRIDE
        scores = torch.sigmoid(raw[:, :1]) * torch.sigmoid(raw[:, 5:])
        return torch.cat([cxy, wh, scores], 1)
