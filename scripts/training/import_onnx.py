"""Load the weights of a shipped detector .onnx back into a SignDetector, to fine-tune from it.

The export folded every BatchNorm into the convolution before it, so each Conv+BN pair is restored as
the folded convolution followed by an identity BatchNorm (weight 1, bias = the folded bias, mean 0,
var 1 - eps): the same function in eval mode, and the BN layers train on from there.
"""
import onnx
import torch
from onnx import numpy_helper

from model import SignDetector


def load_detector_onnx(path, **config):
    m = onnx.load(path)
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    net = SignDetector(**config).eval()
    order = []
    hooks = [mod.register_forward_hook(lambda mod, i, o: order.append(mod))
             for mod in net.modules() if isinstance(mod, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    if len(order) != len(convs):
        raise SystemExit(f"{path}: {len(convs)} convolutions, the network has {len(order)}: not this architecture")
    bn_after = {}
    mods = list(net.modules())
    for seq in net.modules():
        if isinstance(seq, torch.nn.Sequential):
            ch = list(seq.children())
            for a, b in zip(ch, ch[1:]):
                if isinstance(a, torch.nn.Conv2d) and isinstance(b, torch.nn.BatchNorm2d):
                    bn_after[id(a)] = b
    with torch.no_grad():
        for node, conv in zip(convs, order):
            w = init[node.input[1]]
            if w.shape != conv.weight.shape:
                raise SystemExit(f"{path}: conv weight {tuple(w.shape)} != {tuple(conv.weight.shape)} (other widths?)")
            conv.weight.copy_(w)
            b = init[node.input[2]] if len(node.input) > 2 else torch.zeros(w.shape[0])
            bn = bn_after.get(id(conv))
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            else:
                conv.bias.copy_(b)
    return net
