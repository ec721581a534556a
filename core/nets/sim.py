"""Sim, the similarity-based colour transform layer (sec. 3.3, Fig. 3, eqs. 3-5).

For each reference i, learned masks from the concatenated distance-field features
    m_i = sigmoid(Conv(f_di (+) f_d)),   n_i = sigmoid(Conv(f_di (+) f_d))        (3), (4)
select confident reference colour features f_myi = f_yi * m_i. The matching-based transform
feature f_mat comes from a non-local match of the target against ALL K references at once:
1x1 convs reduce channels to C/8, M_i = f_d . f_di^T, the M_i are concatenated and one softmax
runs over the K*h*w reference positions, f_mat = f_C . M~ (then a 1x1 conv back to C, as in
non-local blocks, since eq. 5 mixes f_mat with C-channel features). Finally
    f_sim = 1/K * sum_i ((1 - n_i) * f_mat + f_myi * n_i)                          (5)
(the paper writes 1/2 for its K = 2). Mean and one joint softmax make f_sim independent of
the order the references are given in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Sim(nn.Module):
    def __init__(self, c: int, reduction: int = 8) -> None:
        super().__init__()
        cr = max(1, c // reduction)
        self.mask_m = nn.Conv2d(2 * c, c, 3, padding=1)
        self.mask_n = nn.Conv2d(2 * c, c, 3, padding=1)
        self.query = nn.Conv2d(c, cr, 1)  # target distance-field features f_d
        self.key = nn.Conv2d(c, cr, 1)  # reference distance-field features f_di
        self.value = nn.Conv2d(c, cr, 1)  # reference colour features f_yi -> f_C
        self.out = nn.Conv2d(cr, c, 1)

    def forward(self, fd: torch.Tensor, fdr: torch.Tensor, fyr: torch.Tensor) -> torch.Tensor:
        """fd: [B, C, h, w] target; fdr, fyr: [Br, K, C, h, w] references, Br = B or Br = 1
        (one reference set shared by every target). Returns f_sim."""
        b, (br, k, c, h, w) = fd.shape[0], fdr.shape
        pair = torch.cat([fdr.expand(b, k, c, h, w), fd.unsqueeze(1).expand(b, k, c, h, w)],
                         dim=2).flatten(0, 1)
        m = torch.sigmoid(self.mask_m(pair)).view(b, k, c, h, w)
        n = torch.sigmoid(self.mask_n(pair)).view(b, k, c, h, w)
        f_my = fyr * m

        # Shared references: their keys and values are computed once, and the B targets'
        # tokens form one query sequence against them (each query row has its own softmax, so
        # this is the same as B separate matches).
        cr = self.query.out_channels
        q = self.query(fd).flatten(2).transpose(1, 2).reshape(br, -1, cr)
        keys = self._per_ref_tokens(self.key, fdr)  # [Br, K*hw, C~]
        vals = self._per_ref_tokens(self.value, fyr)  # [Br, K*hw, C~]
        f_mat = attention(q, keys, vals).reshape(b, h * w, cr)
        f_mat = self.out(f_mat.transpose(1, 2).reshape(b, cr, h, w)).unsqueeze(1)
        return ((1 - n) * f_mat + f_my * n).mean(dim=1)

    @staticmethod
    def _per_ref_tokens(conv: nn.Conv2d, f: torch.Tensor) -> torch.Tensor:
        b, k = f.shape[:2]
        t = conv(f.flatten(0, 1))  # [B*K, C~, h, w]
        return t.flatten(2).transpose(1, 2).reshape(b, -1, t.shape[1])


def attention(q: torch.Tensor, keys: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
    """softmax(q . keys^T) . vals over [B, tokens, C~] with no 1/sqrt(d) scaling: exactly M~
    and f_C . M~ of the paper, without ever holding M~ ([B, hw, K*hw]: 0.8 GB for 6 targets
    at 256 px, 13 GB for one at 1024 px). PyTorch's CPU flash kernel only takes 4-D
    [B, heads, tokens, C] inputs with contiguous tokens (3-D, transposed or broadcast ones
    fall back to the kernel that materialises M~), hence the one head; the ONNX export
    turns this call into ONNX Runtime's MultiHeadAttention, whose CPU kernel is a flash
    kernel too (``core.engine.export``)."""
    return F.scaled_dot_product_attention(q.contiguous()[:, None], keys.contiguous()[:, None],
                                          vals.contiguous()[:, None], scale=1.0)[:, 0]
