"""Real programs from machine learning and matrix calculus, written in the indexcalc
language (README "The language") as a careful practitioner writes them (issue 8, Deliver 5).

Each program is a :class:`Real` record: ``name``, ``source``, ``wrt`` (``None``: all
inputs), ``sizes`` (index letter -> size, for random data; unnamed index classes get
2, 3, 4, 5, ...), ``domains`` (input name -> a domain for its random data, see
:data:`DOMAINS`; inputs without one get the defaults of ``indexcalc.gradcheck``:
positive where they feed ``log``/``sqrt``/a division, well conditioned where they are
the matrix of ``inv``/``det``/``logdet``, else uniform in [-1.5, 1.5]), ``tags`` (the
category first), ``kind`` ("gradient", "hessian" for ``ic.hessian``, "jacobian" for
``ic.jacobian``), ``needs`` (language features of issue 12 the program uses that may
not exist yet: "functions", "reductions", "pi"), and ``xfail`` (check name -> reason,
for the checks of ``tests/test_real_programs.py`` that fail today because of a known
bug; the test marks them ``xfail(strict=True)``).

Writing notes (the traps a practitioner avoids, README "The language"):

* an index repeated inside a product is contracted *there*: the logistic loss is
  ``sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))`` or goes through a named margin
  ``m[n]``; ``log(1 + exp(-y[n]*sum[d](X[n,d]*w[d])))`` alone still sums ``n`` inside
  ``exp``, because ``y[n]`` and the ``sum[d](..)`` are two factors carrying ``n``;
* an index that occurs once inside a function is summed outside it: a norm is
  ``sqrt(sum[j](x[j]^2))``, never ``sqrt(x[j]^2)`` (that is ``Σ_j |x_j|``);
* a parenthesized product sums its own repeated indices: the GRU's ``r ⊙ h`` is a
  statement of its own, or written in PyTorch's form ``r ⊙ (U h + b)``;
* ``pi`` is a constant of issue 12; programs written before it use 3.141592653589793.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Real", "PROGRAMS", "DOMAINS", "by_name", "make_domain"]


@dataclass(frozen=True)
class Real:
    name: str
    source: str
    wrt: tuple | None = None
    sizes: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)
    tags: tuple = ()
    kind: str = "gradient"
    needs: tuple = ()
    xfail: dict = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.tags[0] if self.tags else "other"


# ----------------------------------------------------------------------------- domains

def _spd(shape, rng):
    n = shape[0]
    a = rng.standard_normal(shape)
    return a @ a.T / n + np.eye(n)


def _wellcond(shape, rng):
    return np.eye(shape[0]) * shape[0] + rng.uniform(-0.5, 0.5, shape)


def _onehot(shape, rng):
    out = np.zeros(shape)
    flat = out.reshape(-1, shape[-1])
    flat[np.arange(flat.shape[0]), rng.integers(0, shape[-1], flat.shape[0])] = 1.0
    return out


def _simplex(shape, rng):
    a = rng.uniform(0.2, 1.0, shape)
    return a / a.sum(axis=-1, keepdims=True)


def _causal(shape, rng):
    """An additive causal mask over the last two axes: 0 where key <= query, -1e9 after."""
    i, j = shape[-2], shape[-1]
    m = np.where(np.arange(j)[None, :] <= np.arange(i)[:, None], 0.0, -1e9)
    return np.broadcast_to(m, shape).copy()


def _conv(shape, rng):
    """The unfolding tensor of a valid 1-D convolution: U[t,k,s] = 1 where s = t + k."""
    t, k, s = shape
    u = np.zeros(shape)
    for a in range(t):
        for b in range(k):
            if a + b < s:
                u[a, b, a + b] = 1.0
    return u


DOMAINS = {
    "positive": lambda shape, rng: rng.uniform(0.5, 1.5, shape),
    "unit": lambda shape, rng: rng.uniform(0.1, 0.9, shape),  # probabilities
    "small": lambda shape, rng: rng.uniform(-0.5, 0.5, shape),
    "pm1": lambda shape, rng: rng.choice([-1.0, 1.0], shape),  # labels ±1
    "binary": lambda shape, rng: rng.integers(0, 2, shape).astype(np.float64),
    "counts": lambda shape, rng: rng.poisson(2.0, shape).astype(np.float64),
    "keep": lambda shape, rng: (rng.uniform(0, 1, shape) < 0.8) / 0.8,  # dropout mask
    "onehot": _onehot,
    "simplex": _simplex,
    "spd": _spd,
    "wellcond": _wellcond,
    "causal": _causal,
    "conv": _conv,
}


def make_domain(hint, shape, rng):
    """Random data of ``shape`` in the domain ``hint`` (a name of :data:`DOMAINS`, or a
    function ``(shape, rng) -> array``)."""
    gen = DOMAINS[hint] if isinstance(hint, str) else hint
    return np.asarray(gen(tuple(shape), rng), dtype=np.float64)


# ----------------------------------------------------------------------------- programs

PROGRAMS: list[Real] = []


def real(name, source, wrt=None, sizes=None, domains=None, tags=(), kind="gradient",
         needs=(), xfail=None):
    wrt = (wrt,) if isinstance(wrt, str) else (tuple(wrt) if wrt is not None else None)
    PROGRAMS.append(Real(name, source.strip("\n"), wrt, dict(sizes or {}), dict(domains or {}),
                         tuple(tags), kind, tuple(needs), dict(xfail or {})))


# -- normalization layers ----------------------------------------------------------------

real("layernorm", """
mu[b]   = mean[i](x[b,i])
xc[b,i] = x[b,i] - mu[b]
var[b]  = mean[i](xc[b,i]^2)
y[b,i]  = xc[b,i] / sqrt(var[b] + 1e-5) * gamma[i] + beta[i]
""", ["x", "gamma", "beta"], {"b": 2, "i": 4}, tags=("normalization",))

real("rmsnorm", """
r[b] = sqrt(mean[i](x[b,i]^2) + 1e-6)
y[b,i] = x[b,i] / r[b] * g[i]
""", ["x", "g"], {"b": 2, "i": 4}, tags=("normalization",))

real("batchnorm_nc", """
mu[c]  = mean[n](x[n,c])
var[c] = mean[n]((x[n,c] - mu[c])^2)
y[n,c] = (x[n,c] - mu[c]) / sqrt(var[c] + 1e-5) * gamma[c] + beta[c]
""", ["x", "gamma", "beta"], {"n": 4, "c": 3}, tags=("normalization",))

real("batchnorm_nchw", """
mu[c]          = mean[n,h,w](x[n,c,h,w])
xc[n,c,h,w]    = x[n,c,h,w] - mu[c]
var[c]         = mean[n,h,w](xc[n,c,h,w]^2)
y[n,c,h,w]     = xc[n,c,h,w] / sqrt(var[c] + 1e-5) * gamma[c] + beta[c]
""", ["x", "gamma", "beta"], {"n": 2, "c": 3, "h": 2, "w": 2}, tags=("normalization",))

real("groupnorm", """
# x[n,g,c,s]: batch, group, channel within the group, spatial position
mu[n,g]        = mean[c,s](x[n,g,c,s])
xc[n,g,c,s]    = x[n,g,c,s] - mu[n,g]
var[n,g]       = mean[c,s](xc[n,g,c,s]^2)
y[n,g,c,s]     = xc[n,g,c,s] / sqrt(var[n,g] + 1e-5) * gamma[g,c] + beta[g,c]
""", ["x", "gamma", "beta"], {"n": 2, "g": 2, "c": 2, "s": 3}, tags=("normalization",))

real("instancenorm", """
mu[n,c]     = mean[s](x[n,c,s])
var[n,c]    = mean[s]((x[n,c,s] - mu[n,c])^2)
y[n,c,s]    = (x[n,c,s] - mu[n,c]) / sqrt(var[n,c] + 1e-5) * gamma[c] + beta[c]
""", ["x", "gamma", "beta"], {"n": 2, "c": 2, "s": 4}, tags=("normalization",))

real("weight_standardization", """
# a linear layer whose weight is standardized per output unit (over inputs and taps)
mu[o]       = mean[i,k](W[o,i,k])
Wc[o,i,k]   = W[o,i,k] - mu[o]
sd[o]       = sqrt(mean[i,k](Wc[o,i,k]^2) + 1e-5)
y[n,o]      = Wc[o,i,k] / sd[o] * x[n,i,k]
""", ["W", "x"], {"o": 2, "i": 2, "k": 3, "n": 2}, tags=("normalization",))

real("l2_normalize", """
nrm[b]  = sqrt(sum[i](x[b,i]^2) + 1e-12)
u[b,i]  = x[b,i] / nrm[b]
""", "x", {"b": 2, "i": 3}, tags=("normalization",))

# -- activations ---------------------------------------------------------------------------

real("gelu_tanh", """
y[n,j] = 0.5*h[n,j]*(1 + tanh(0.7978845608028654*(h[n,j] + 0.044715*h[n,j]^3)))
""", "h", {"n": 2, "j": 3}, tags=("activation", "issue8-quoted"))

real("silu", "y[n,j] = x[n,j]*sigmoid(x[n,j])", "x", {"n": 2, "j": 3}, tags=("activation",))

real("swiglu", """
a[n,f] = X[n,d]*W[d,f]
b[n,f] = X[n,d]*V[d,f]
hs[n,f] = a[n,f]*sigmoid(a[n,f])*b[n,f]
y[n,o] = hs[n,f]*W2[f,o]
""", ["X", "W", "V", "W2"], {"n": 2, "d": 3, "f": 4, "o": 2}, tags=("activation",))

real("glu", """
a[n,f] = X[n,d]*W[d,f] + bw[f]
g[n,f] = X[n,d]*V[d,f] + bv[f]
y[n,f] = a[n,f]*sigmoid(g[n,f])
""", ["X", "W", "bw", "V", "bv"], {"n": 2, "d": 3, "f": 2}, tags=("activation",))

real("softplus_beta", """
# PyTorch's Softplus(beta): log(1 + exp(beta*x))/beta
y[i] = log(1 + exp(beta*x[i])) / beta
""", ["x", "beta"], {"i": 4}, {"beta": "positive"}, tags=("activation",))

real("elu", """
y[i] = max(x[i], 0) + min(alpha*(exp(x[i]) - 1), 0)
""", ["x", "alpha"], {"i": 5}, {"alpha": "positive"}, tags=("activation",))

real("selu", """
y[i] = 1.0507009873554805*(max(x[i], 0) + min(1.6732632423543772*(exp(x[i]) - 1), 0))
""", "x", {"i": 5}, tags=("activation",))

real("leaky_relu", "y[i] = max(x[i], 0.01*x[i])", "x", {"i": 5}, tags=("activation",))

real("hardtanh", "y[i] = min(max(x[i], -1), 1)", "x", {"i": 5}, tags=("activation",))

real("mish", "y[i] = x[i]*tanh(softplus(x[i]))", "x", {"i": 4}, tags=("activation",))

real("softmax_temperature", """
p[i] = exp(x[i]/T) / sum[j](exp(x[j]/T))
""", ["x", "T"], {"i": 4}, {"T": "positive"}, tags=("activation",))

real("gelu_erf", """
y[i] = 0.5*x[i]*(1 + erf(x[i]/sqrt(2)))
""", "x", {"i": 4}, tags=("activation",), needs=("functions",))

real("tanh_via_sinh_cosh", """
y[i] = sinh(x[i])/cosh(x[i]) + atan(x[i])
""", "x", {"i": 4}, tags=("activation",), needs=("functions",))

# -- losses --------------------------------------------------------------------------------

real("mse_linear", """
P[n,o] = X[n,d]*W[d,o] + b[o]
L = mean[n,o]((P[n,o] - T[n,o])^2)
""", ["W", "b"], {"n": 3, "d": 2, "o": 2}, tags=("loss",))

real("mae", "L = mean[n](abs(p[n] - t[n]))", "p", {"n": 5}, tags=("loss",))

real("huber", """
# Huber with delta 1: 0.5 r^2 where |r| <= 1, |r| - 0.5 elsewhere
r[n] = p[n] - t[n]
q[n] = min(abs(r[n]), 1)
L = mean[n](0.5*q[n]^2 + abs(r[n]) - q[n])
""", "p", {"n": 6}, {"p": lambda s, rng: rng.uniform(-3, 3, s)}, tags=("loss",))

real("bce_logits", """
p[n] = sigmoid(z[n])
L = -mean[n](t[n]*log(p[n]) + (1 - t[n])*log(1 - p[n]))
""", "z", {"n": 4}, {"t": "binary"}, tags=("loss", "issue8-quoted"))

real("bce_probs", """
L = -mean[n](t[n]*log(p[n]) + (1 - t[n])*log(1 - p[n]))
""", "p", {"n": 4}, {"p": "unit", "t": "unit"}, tags=("loss",))

real("logistic_regression", """
# labels y in {-1, 1}; the margin is summed over d inside, the loss over n outside
L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))
""", "w", {"n": 4, "d": 3}, {"y": "pm1"}, tags=("loss", "issue8-quoted"))

real("logistic_regression_l2", """
m[n] = y[n]*(X[n,d]*w[d] + b)
L = mean[n](log(1 + exp(-m[n]))) + 0.5*lam*w[d]^2
""", ["w", "b"], {"n": 4, "d": 3}, {"y": "pm1", "lam": "positive"}, tags=("loss",))

real("softmax_cross_entropy", """
p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))
L = -mean[n](sum[c](t[n,c]*log(p[n,c])))
""", "z", {"n": 2, "c": 3}, {"t": "onehot"}, tags=("loss",))

real("log_softmax_cross_entropy", """
lse[n] = log(sum[k](exp(z[n,k])))
L = mean[n](lse[n] - t[n,c]*z[n,c])
""", "z", {"n": 2, "c": 3}, {"t": "onehot"}, tags=("loss",))

real("label_smoothing", """
q[n,c]  = 0.9*t[n,c] + 0.1/len(c)
lp[n,c] = z[n,c] - log(sum[k](exp(z[n,k])))
L = -mean[n](sum[c](q[n,c]*lp[n,c]))
""", "z", {"n": 2, "c": 4}, {"t": "onehot"}, tags=("loss",))

real("kl_divergence", """
q[i] = exp(z[i]) / sum[j](exp(z[j]))
L = sum[i](p[i]*(log(p[i]) - log(q[i])))
""", "z", {"i": 4}, {"p": "simplex"}, tags=("loss",))

real("hinge_binary", """
s[n] = X[n,d]*w[d] + b
L = mean[n](relu(1 - y[n]*s[n])) + 0.5*lam*w[d]*w[d]
""", ["w", "b"], {"n": 5, "d": 2}, {"y": "pm1", "lam": "positive"}, tags=("loss",))

real("hinge_multiclass", """
# Weston-Watkins: sum over the wrong classes of relu(1 + S[n,c] - S[n,true])
sy[n] = S[n,c]*t[n,c]
L = sum[n,c](relu(1 + S[n,c] - sy[n])*(1 - t[n,c])) / len(n)
""", "S", {"n": 3, "c": 3}, {"t": "onehot"}, tags=("loss",))

real("focal_loss", """
p[n]  = sigmoid(z[n])
pt[n] = t[n]*p[n] + (1 - t[n])*(1 - p[n])
L = -mean[n]((1 - pt[n])^2*log(pt[n]))
""", "z", {"n": 4}, {"t": "binary"}, tags=("loss",))

real("infonce", """
# CLIP-style: normalized embeddings, temperature 0.1, positives on the diagonal
na[i,d] = A[i,d] / sqrt(sum[e](A[i,e]^2))
nb[j,d] = B[j,d] / sqrt(sum[e](B[j,e]^2))
S[i,j]  = na[i,d]*nb[j,d] / 0.1
L = mean[i](log(sum[j](exp(S[i,j]))) - S[i,i])
""", ["A", "B"], {"i": 3, "d": 2}, tags=("loss",))

real("triplet", """
dpos[n] = sum[d]((a[n,d] - p[n,d])^2)
dneg[n] = sum[d]((a[n,d] - q[n,d])^2)
L = mean[n](relu(dpos[n] - dneg[n] + 0.2))
""", ["a", "p", "q"], {"n": 3, "d": 2}, tags=("loss",))

real("cosine_embedding", """
c = x[i]*y[i] / (sqrt(sum[j](x[j]^2))*sqrt(sum[k](y[k]^2)))
L = 1 - c
""", ["x", "y"], {"i": 4}, tags=("loss",))

real("poisson_nll", """
r[n] = X[n,d]*w[d]
L = mean[n](exp(r[n]) - y[n]*r[n])
""", "w", {"n": 4, "d": 3}, {"y": "counts", "X": "small"}, tags=("loss",))

real("gaussian_nll", """
L = mean[n](0.5*log(s2[n]) + 0.5*(y[n] - m[n])^2/s2[n])
""", ["m", "s2"], {"n": 4}, {"s2": "positive"}, tags=("loss",))

real("dice", """
L = 1 - (2*p[n]*t[n] + 1)/(sum[n](p[n]) + sum[n](t[n]) + 1)
""", "p", {"n": 5}, {"p": "unit", "t": "binary"}, tags=("loss",))

real("pinball", """
# quantile 0.9
L = mean[n](max(0.9*(y[n] - f[n]), (0.9 - 1)*(y[n] - f[n])))
""", "f", {"n": 5}, tags=("loss",))

real("log_cosh", "L = mean[n](log(cosh(p[n] - t[n])))", "p", {"n": 4},
     tags=("loss",), needs=("functions",))

real("cross_entropy_logsumexp", """
L = mean[n](logsumexp[c](z[n,c]) - t[n,c]*z[n,c])
""", "z", {"n": 2, "c": 3}, {"t": "onehot"}, tags=("loss",), needs=("reductions",))

real("max_margin", """
sy[n] = S[n,c]*t[n,c]
L = mean[n](relu(1 + max[c](S[n,c] - 10*t[n,c]) - sy[n]))
""", "S", {"n": 3, "c": 4}, {"t": "onehot"}, tags=("loss",), needs=("reductions",))

# -- attention -----------------------------------------------------------------------------

real("sdpa", """
S[i,j] = Q[i,d]*K[j,d] / sqrt(len(d))
P[i,j] = exp(S[i,j]) / sum[k](exp(S[i,k]))
O[i,e] = P[i,j]*V[j,e]
""", ["Q", "K", "V"], {"i": 2, "j": 3, "d": 2, "e": 2}, tags=("attention",))

real("multihead_attention", """
q[h,i,e] = X[i,d]*Wq[d,h,e]
k[h,j,e] = X[j,d]*Wk[d,h,e]
v[h,j,e] = X[j,d]*Wv[d,h,e]
S[h,i,j] = q[h,i,e]*k[h,j,e] / sqrt(len(e))
P[h,i,j] = exp(S[h,i,j]) / sum[m](exp(S[h,i,m]))
A[h,i,e] = P[h,i,j]*v[h,j,e]
Y[i,o]   = A[h,i,e]*Wo[h,e,o]
""", ["X", "Wq", "Wk", "Wv", "Wo"], {"h": 2, "i": 3, "d": 2, "e": 2, "o": 2},
     {"X": "small"}, tags=("attention",))

real("causal_attention", """
# M: an additive mask, 0 where j <= i and -1e9 after
S[i,j] = Q[i,d]*K[j,d] / sqrt(len(d)) + M[i,j]
P[i,j] = exp(S[i,j]) / sum[k](exp(S[i,k]))
O[i,e] = P[i,j]*V[j,e]
""", ["Q", "K", "V"], {"i": 3, "d": 2, "e": 2}, {"M": "causal"}, tags=("attention",))

real("cross_attention", """
q[i,e] = X[i,d]*Wq[d,e]
k[j,e] = C[j,c]*Wk[c,e]
v[j,e] = C[j,c]*Wv[c,e]
S[i,j] = q[i,e]*k[j,e] / sqrt(len(e))
P[i,j] = exp(S[i,j]) / sum[m](exp(S[i,m]))
O[i,e] = P[i,j]*v[j,e]
""", ["X", "C", "Wq", "Wk", "Wv"], {"i": 2, "j": 3, "d": 2, "c": 3, "e": 2},
     tags=("attention",))

real("linear_attention", """
# feature map phi = softplus (positive), normalized by phi(q) . sum_j phi(k_j)
fq[i,e] = softplus(Q[i,e])
fk[j,e] = softplus(K[j,e])
kv[e,f] = fk[j,e]*V[j,f]
ks[e]   = sum[j](fk[j,e])
O[i,f]  = fq[i,e]*kv[e,f] / (fq[i,a]*ks[a])
""", ["Q", "K", "V"], {"i": 2, "j": 3, "e": 2, "f": 2}, tags=("attention",))

real("additive_attention", """
# Bahdanau: e[i] = v . tanh(W hs_i + U q)
sc[i]   = v[a]*tanh(W[a,d]*hs[i,d] + U[a,c]*q[c])
al[i]   = exp(sc[i]) / sum[j](exp(sc[j]))
ctx[d]  = al[i]*hs[i,d]
""", ["v", "W", "U", "hs", "q"], {"i": 3, "a": 2, "d": 2, "c": 2}, tags=("attention",))

real("batched_attention_dropout", """
S[b,i,j] = Q[b,i,d]*K[b,j,d] / sqrt(len(d))
P[b,i,j] = exp(S[b,i,j]) / sum[k](exp(S[b,i,k]))
O[b,i,e] = P[b,i,j]*R[b,i,j]*V[b,j,e]
""", ["Q", "K", "V"], {"b": 2, "i": 2, "j": 2, "d": 2, "e": 2}, {"R": "keep"},
     tags=("attention",))

real("attention_qkv_sum_k", """
# a tensor k and a softmax summed over an index also called k
q[i,e] = X[i,d]*Wq[d,e]
k[j,e] = X[j,d]*Wk[d,e]
v[j,e] = X[j,d]*Wv[d,e]
S[i,j] = q[i,e]*k[j,e] / sqrt(len(e))
P[i,j] = exp(S[i,j]) / sum[k](exp(S[i,k]))
O[i,e] = P[i,j]*v[j,e]
""", ["X", "Wq", "Wk", "Wv"], {"i": 3, "d": 2, "e": 2}, tags=("attention", "names"))

# -- recurrent cells -----------------------------------------------------------------------

real("elman_rnn", """
hn[b,k] = tanh(x[b,d]*Wx[d,k] + hp[b,j]*Wh[j,k] + bh[k])
""", ["x", "hp", "Wx", "Wh", "bh"], {"b": 2, "d": 3, "k": 2}, tags=("recurrent",))

real("rnn_two_steps", """
# two unrolled steps sharing weights, squared error on the last state
h1[b,k] = tanh(x1[b,d]*Wx[d,k] + h0[b,j]*Wh[j,k])
h2[b,k] = tanh(x2[b,d]*Wx[d,k] + h1[b,j]*Wh[j,k])
L = sum[b,k]((h2[b,k] - T[b,k])^2)
""", ["Wx", "Wh", "h0"], {"b": 2, "d": 2, "k": 3}, tags=("recurrent",))

real("gru_cell", """
# PyTorch's GRU: the candidate reads r * (Un h + bn)
z[b,k]  = sigmoid(x[b,d]*Wz[d,k] + h[b,j]*Uz[j,k] + bz[k])
r[b,k]  = sigmoid(x[b,d]*Wr[d,k] + h[b,j]*Ur[j,k] + br[k])
c[b,k]  = tanh(x[b,d]*Wc[d,k] + r[b,k]*(h[b,j]*Uc[j,k] + bc[k]))
hn[b,k] = (1 - z[b,k])*c[b,k] + z[b,k]*h[b,k]
""", ["x", "h", "Wz", "Uz", "bz", "Wr", "Ur", "br", "Wc", "Uc", "bc"],
     {"b": 2, "d": 2, "k": 2}, tags=("recurrent",))

real("lstm_cell", """
ig[b,k] = sigmoid(x[b,d]*Wi[d,k] + h[b,j]*Ui[j,k] + bi[k])
fg[b,k] = sigmoid(x[b,d]*Wf[d,k] + h[b,j]*Uf[j,k] + bf[k])
og[b,k] = sigmoid(x[b,d]*Wo[d,k] + h[b,j]*Uo[j,k] + bo[k])
gg[b,k] = tanh(x[b,d]*Wg[d,k] + h[b,j]*Ug[j,k] + bg[k])
c2[b,k] = fg[b,k]*c[b,k] + ig[b,k]*gg[b,k]
h2[b,k] = og[b,k]*tanh(c2[b,k])
""", ["x", "h", "c", "Wi", "Ui", "bi", "Wf", "Uf", "bf", "Wo", "Uo", "bo", "Wg", "Ug", "bg"],
     {"b": 2, "d": 2, "k": 2}, tags=("recurrent",))

real("lstm_cell_torch_names", """
# the gates named as in PyTorch's documentation: i, f, g, o are tensors here, so the
# printout must not use them as index letters
i[b,k]  = sigmoid(x[b,d]*Wi[d,k] + h[b,j]*Ui[j,k] + bi[k])
f[b,k]  = sigmoid(x[b,d]*Wf[d,k] + h[b,j]*Uf[j,k] + bf[k])
g[b,k]  = tanh(x[b,d]*Wg[d,k] + h[b,j]*Ug[j,k] + bg[k])
o[b,k]  = sigmoid(x[b,d]*Wo[d,k] + h[b,j]*Uo[j,k] + bo[k])
c2[b,k] = f[b,k]*c[b,k] + i[b,k]*g[b,k]
h2[b,k] = o[b,k]*tanh(c2[b,k])
""", ["x", "h", "c", "Wi", "Ui", "Wf", "Uf", "Wg", "Ug", "Wo", "Uo"],
     {"b": 2, "d": 2, "k": 2}, tags=("recurrent", "names"))

# -- mixtures ------------------------------------------------------------------------------

real("moe_softmax_gating", """
s[n,e]    = X[n,d]*Wg[d,e]
g[n,e]    = exp(s[n,e]) / sum[f](exp(s[n,f]))
H[n,e,k]  = relu(X[n,d]*W1[e,d,k])
y[n,o]    = g[n,e]*H[n,e,k]*W2[e,k,o]
""", ["X", "Wg", "W1", "W2"], {"n": 2, "d": 2, "e": 3, "k": 2, "o": 2}, tags=("mixture",))

real("gmm_loglik", """
# diagonal Gaussians, mixture weights from logits a
w[k]    = exp(a[k]) / sum[j](exp(a[j]))
lp[n,k] = log(w[k]) - 0.5*sum[d]((x[n,d] - mu[k,d])^2/s2[k,d] + log(2*3.141592653589793*s2[k,d]))
L = -sum[n](log(sum[k](exp(lp[n,k]))))
""", ["a", "mu", "s2"], {"n": 3, "k": 2, "d": 2}, {"s2": "positive"}, tags=("mixture",))

real("gmm_loglik_pi", """
w[k]    = exp(a[k]) / sum[j](exp(a[j]))
lp[n,k] = log(w[k]) - 0.5*sum[d]((x[n,d] - mu[k,d])^2/s2[k,d] + log(2*pi*s2[k,d]))
L = -sum[n](logsumexp[k](lp[n,k]))
""", ["a", "mu", "s2"], {"n": 3, "k": 2, "d": 2}, {"s2": "positive"}, tags=("mixture",),
     needs=("pi", "reductions"))

# -- probabilistic models ------------------------------------------------------------------

real("gp_nll", """
# squared-exponential kernel; sf2, ell2, sn2: signal variance, length scale^2, noise
K[i,j] = sf2*exp(-0.5*sum[d]((X[i,d] - X[j,d])^2)/ell2) + sn2*delta(i,j)
al[i]  = inv(K)[i,j]*y[j]
L = 0.5*y[i]*al[i] + 0.5*logdet(K) + 0.5*len(i)*log(2*3.141592653589793)
""", ["sf2", "ell2", "sn2"], {"i": 3, "d": 2},
     {"sf2": "positive", "ell2": "positive", "sn2": "positive"}, tags=("probabilistic",))

real("mvn_logpdf", """
r[i] = x[i] - mu[i]
L = -0.5*r[i]*inv(S)[i,j]*r[j] - 0.5*logdet(S) - 0.5*len(i)*log(2*3.141592653589793)
""", ["mu", "S"], {"i": 3}, {"S": "spd"}, tags=("probabilistic",))

real("mvn_cholesky_param", """
S[i,j] = C[i,k]*C[j,k] + 0.01*delta(i,j)
r[i] = x[i] - mu[i]
L = 0.5*r[i]*inv(S)[i,j]*r[j] + 0.5*logdet(S)
""", ["C", "mu"], {"i": 3, "k": 3}, {"C": "wellcond"}, tags=("probabilistic",))

real("poisson_regression", """
r[n] = X[n,d]*w[d] + b
L = sum[n](exp(r[n]) - y[n]*r[n])
""", ["w", "b"], {"n": 4, "d": 2}, {"y": "counts", "X": "small"}, tags=("probabilistic",))

real("ridge_regression", """
L = 0.5*sum[n]((X[n,d]*w[d] - y[n])^2) + 0.5*lam*w[d]*w[d]
""", "w", {"n": 4, "d": 3}, {"lam": "positive"}, tags=("probabilistic",))

real("vae_kl", """
L = -0.5*sum[j](1 + lv[j] - mu[j]^2 - exp(lv[j]))
""", ["mu", "lv"], {"j": 3}, tags=("probabilistic",))

real("vae_elbo", """
z[b,j]  = mu[b,j] + exp(0.5*lv[b,j])*e[b,j]
xh[b,i] = sigmoid(z[b,j]*Wd[j,i])
L = -sum[b,i](x[b,i]*log(xh[b,i]) + (1 - x[b,i])*log(1 - xh[b,i])) - 0.5*sum[b,j](1 + lv[b,j] - mu[b,j]^2 - exp(lv[b,j]))
""", ["mu", "lv", "Wd"], {"b": 2, "j": 2, "i": 3}, {"x": "binary"}, tags=("probabilistic",))

real("student_t_nll", """
L = sum[n](0.5*(nu + 1)*log(1 + (y[n] - m[n])^2/(nu*s2)) + 0.5*log(s2))
""", ["m", "s2"], {"n": 4}, {"nu": "positive", "s2": "positive"}, tags=("probabilistic",))

# -- transformer blocks ----------------------------------------------------------------------

real("preln_transformer_block", """
mu1[i]  = mean[d](x[i,d])
v1[i]   = mean[d]((x[i,d] - mu1[i])^2)
a[i,d]  = (x[i,d] - mu1[i]) / sqrt(v1[i] + 1e-5) * g1[d] + b1[d]
q[i,e]  = a[i,d]*Wq[d,e]
k[j,e]  = a[j,d]*Wk[d,e]
v[j,e]  = a[j,d]*Wv[d,e]
S[i,j]  = q[i,e]*k[j,e] / sqrt(len(e))
P[i,j]  = exp(S[i,j]) / sum[m](exp(S[i,m]))
r[i,d]  = x[i,d] + P[i,j]*v[j,e]*Wo[e,d]
mu2[i]  = mean[d](r[i,d])
v2[i]   = mean[d]((r[i,d] - mu2[i])^2)
c[i,d]  = (r[i,d] - mu2[i]) / sqrt(v2[i] + 1e-5) * g2[d] + b2[d]
u[i,f]  = relu(c[i,d]*W1[d,f] + c1[f])
y[i,d]  = r[i,d] + u[i,f]*W2[f,d] + c2[d]
""", ["x", "g1", "b1", "Wq", "Wk", "Wv", "Wo", "g2", "b2", "W1", "c1", "W2", "c2"],
     {"i": 2, "d": 3, "e": 2, "f": 3}, {"x": "small"}, tags=("transformer",))

real("transformer_mlp_gelu", """
mu[i]   = mean[d](x[i,d])
va[i]   = mean[d]((x[i,d] - mu[i])^2)
a[i,d]  = (x[i,d] - mu[i]) / sqrt(va[i] + 1e-5) * g[d] + b[d]
u[i,f]  = a[i,d]*W1[d,f] + c1[f]
gl[i,f] = 0.5*u[i,f]*(1 + tanh(0.7978845608028654*(u[i,f] + 0.044715*u[i,f]^3)))
y[i,d]  = x[i,d] + gl[i,f]*W2[f,d]
""", ["x", "g", "b", "W1", "c1", "W2"], {"i": 2, "d": 3, "f": 4}, tags=("transformer",))

# -- MLPs ----------------------------------------------------------------------------------

real("mlp2", """
H[n,h] = relu(X[n,d]*W1[d,h] + b1[h])
O[n,o] = H[n,h]*W2[h,o] + b2[o]
L = mean[n,o]((O[n,o] - T[n,o])^2)
""", ["W1", "b1", "W2", "b2"], {"n": 3, "d": 2, "h": 3, "o": 2}, tags=("mlp",))

real("mlp3_softmax_ce", """
H1[n,h] = tanh(X[n,d]*W1[d,h] + b1[h])
H2[n,g] = tanh(H1[n,h]*W2[h,g] + b2[g])
Z[n,c]  = H2[n,g]*W3[g,c] + b3[c]
L = mean[n](log(sum[k](exp(Z[n,k]))) - t[n,c]*Z[n,c])
""", ["W1", "b1", "W2", "b2", "W3", "b3"], {"n": 2, "d": 2, "h": 3, "g": 2, "c": 3},
     {"t": "onehot"}, tags=("mlp",))

real("mlp_dropout", """
H[n,h] = relu(X[n,d]*W1[d,h]) * R[n,h]
y[n]   = H[n,h]*w2[h]
L = mean[n]((y[n] - t[n])^2)
""", ["W1", "w2"], {"n": 3, "d": 2, "h": 4}, {"R": "keep"}, tags=("mlp",))

real("residual_block", """
u[n,h] = relu(x[n,d]*W1[d,h] + b1[h])
y[n,d] = x[n,d] + u[n,h]*W2[h,d] + b2[d]
""", ["x", "W1", "b1", "W2", "b2"], {"n": 2, "d": 3, "h": 2}, tags=("mlp",))

# -- convolution-like ----------------------------------------------------------------------

real("conv1d_unfold", """
# U[t,k,s] = 1 where s = t + k: y = conv1d(x, W) + b, valid padding
y[n,o,t] = W[o,c,k]*U[t,k,s]*x[n,c,s] + b[o]
""", ["W", "x", "b"], {"n": 2, "o": 2, "c": 2, "k": 2, "t": 3, "s": 4}, {"U": "conv"},
     tags=("convolution",))

real("depthwise_conv1d", """
y[n,c,t] = W[c,k]*U[t,k,s]*x[n,c,s]
""", ["W", "x"], {"n": 2, "c": 2, "k": 2, "t": 3, "s": 4}, {"U": "conv"},
     tags=("convolution",))

real("conv2d_unfold", """
y[n,o,a,b] = W[o,c,k,l]*U[a,k,s]*U[b,l,r]*x[n,c,s,r]
""", ["W", "x"], {"n": 1, "o": 2, "c": 2, "k": 2, "a": 2, "s": 3}, {"U": "conv"},
     tags=("convolution",))

# -- Matrix Cookbook identities ------------------------------------------------------------

real("tr_AXB", "L = A[i,j]*X[j,k]*B[k,i]", "X", {"i": 2, "j": 3, "k": 4}, tags=("cookbook",))

real("tr_XtAX", "L = X[j,i]*A[j,k]*X[k,i]", "X", {"i": 2, "j": 3}, tags=("cookbook",))

real("tr_AXBXt", "L = A[i,j]*X[j,k]*B[k,l]*X[i,l]", "X", {"i": 3, "k": 2}, tags=("cookbook",))

real("quadratic_form", "L = x[i]*A[i,j]*x[j]", ["x", "A"], {"i": 3}, tags=("cookbook",))

real("tr_X4", "L = X[i,j]*X[j,k]*X[k,l]*X[l,i]", "X", {"i": 3},
     tags=("cookbook", "issue8-quoted"))

real("log_abs_det", "y = log(abs(det(L)))", "L", {}, {"L": "wellcond"},
     tags=("cookbook", "issue8-quoted"))

real("logdet", "y = logdet(X)", "X", {}, {"X": "spd"}, tags=("cookbook",))

real("det", "y = det(X)", "X", {}, {"X": "wellcond"}, tags=("cookbook",))

real("inverse", "Y[i,j] = inv(X)[i,j]", "X", {}, {"X": "wellcond"}, tags=("cookbook",))

real("a_Xinv_b", "y = a[i]*inv(X)[i,j]*b[j]", ["a", "X", "b"], {}, {"X": "wellcond"},
     tags=("cookbook",))

real("tr_inv", "y = inv(X)[i,i]", "X", {}, {"X": "wellcond"}, tags=("cookbook",))

real("tr_invX_A", "y = inv(X)[i,j]*A[j,i]", "X", {}, {"X": "wellcond"}, tags=("cookbook",))

real("frobenius_norm", "y = sqrt(sum[i,j](X[i,j]^2))", "X", {"i": 2, "j": 3},
     tags=("cookbook",))

real("least_squares", "L = (A[i,j]*x[j] - b[i])^2", ["A", "x", "b"], {"i": 4, "j": 3},
     tags=("cookbook",))

real("logdet_AXB", """
M[i,l] = A[i,j]*X[j,k]*B[k,l]
y = logdet(M)
""", "X", {"i": 3, "j": 3, "k": 3, "l": 3}, {"A": "wellcond", "X": "wellcond", "B": "wellcond"}, tags=("cookbook",))

real("det_XtX", """
G[i,j] = X[k,i]*X[k,j]
y = det(G)
""", "X", {"k": 4, "i": 2}, tags=("cookbook",))

real("perceptron_step", """
# a hard threshold: the gradient is zero almost everywhere, and prints so
yh[n] = step(X[n,d]*w[d])
L = mean[n]((yh[n] - t[n])^2)
""", "w", {"n": 4, "d": 2}, {"t": "binary"}, tags=("loss",))

# -- more models: representation learning, RL, factor models, tensor decompositions --------

real("tied_autoencoder", """
# the decoder reuses the encoder's weight, transposed: its gradient has two terms
hh[n,k] = sigmoid(X[n,d]*W[d,k] + b[k])
R[n,d]  = hh[n,k]*W[d,k] + c[d]
L = mean[n,d]((R[n,d] - X[n,d])^2)
""", ["W", "b", "c"], {"n": 3, "d": 3, "k": 2}, tags=("mlp",))

real("pairwise_sq_distances", """
# |x_i - x_j|^2 = x_i.x_i + x_j.x_j - 2 x_i.x_j (each term broadcast along the other index)
D[i,j] = x[i,d]*x[i,d] + x[j,d]*x[j,d] - 2*x[i,d]*x[j,d]
""", "x", {"i": 3, "d": 2}, tags=("cookbook",))

real("tsne_kl", """
# t-SNE: Student-t affinities of the embedding Y against fixed affinities P
D[i,j] = sum[d]((Y[i,d] - Y[j,d])^2)
W[i,j] = 1/(1 + D[i,j])
Q[i,j] = W[i,j] / sum[k,l](W[k,l])
L = sum[i,j](P[i,j]*log(P[i,j]/Q[i,j]))
""", "Y", {"i": 3, "d": 2},
     {"P": lambda s, rng: (lambda a: a / a.sum())(rng.uniform(0.1, 1.0, s))},
     tags=("loss",))

real("matrix_factorization_masked", """
# observed entries M[i,j] = 1; the penalty sums each factor once (not broadcast)
L = sum[i,j](M[i,j]*(R[i,j] - U[i,k]*V[j,k])^2) + lam*(sum[i,k](U[i,k]^2) + sum[j,k](V[j,k]^2))
""", ["U", "V"], {"i": 3, "j": 4, "k": 2}, {"M": "binary", "lam": "positive"},
     tags=("loss",))

real("tucker_reconstruction", """
L = (X[i,j,k] - G[a,b,c]*A[i,a]*B[j,b]*C[k,c])^2
""", ["G", "A", "B"], {"i": 3, "j": 2, "k": 2, "a": 2, "b": 2, "c": 2}, tags=("cookbook",))

real("dpo_loss", """
# direct preference optimization, beta = 0.1; pw/pl: policy log-probs, rw/rl: reference
L = -mean[n](log(sigmoid(0.1*(pw[n] - rw[n] - pl[n] + rl[n]))))
""", ["pw", "pl"], {"n": 4}, tags=("loss",))

real("ppo_clip", """
# PPO's clipped surrogate, clip range 0.2; lp: new log-probs, olp: old, A: advantages
ratio[n] = exp(lp[n] - olp[n])
L = -mean[n](min(ratio[n]*A[n], min(max(ratio[n], 0.8), 1.2)*A[n]))
""", "lp", {"n": 6}, {"lp": "small", "olp": "small"}, tags=("loss",))

real("softmax_entropy", """
p[i] = exp(z[i]) / sum[j](exp(z[j]))
H = -sum[i](p[i]*log(p[i]))
""", "z", {"i": 4}, tags=("loss",))

real("factor_analysis_nll", """
# Sigma = W W^T + diag(psi); C: the sample covariance
S[i,j] = W[i,k]*W[j,k] + psi[i]*delta(i,j)
L = 0.5*logdet(S) + 0.5*C[i,j]*inv(S)[j,i]
""", ["W", "psi"], {"i": 3, "k": 2}, {"psi": "positive", "C": "spd"},
     tags=("probabilistic",))

real("kernel_ridge_prediction", """
K[i,j] = exp(-sum[d]((X[i,d] - X[j,d])^2)/2) + lam*delta(i,j)
al[i]  = inv(K)[i,j]*y[j]
f[m]   = exp(-sum[d]((Z[m,d] - X[i,d])^2)/2)*al[i]
""", ["X", "lam", "Z"], {"i": 3, "d": 2, "m": 2}, {"lam": "positive"},
     tags=("probabilistic",))

real("capsule_squash", """
n2[b]  = sum[i](s[b,i]^2)
v[b,i] = n2[b]/(1 + n2[b]) * s[b,i]/sqrt(n2[b] + 1e-9)
""", "s", {"b": 2, "i": 3}, tags=("activation",))

real("charbonnier", "L = mean[n](sqrt((p[n] - t[n])^2 + 1e-6))", "p", {"n": 4},
     tags=("loss",))

real("gumbel_softmax", """
# temperature 0.5; g: Gumbel noise
y[i] = exp((lg[i] + g[i])/0.5) / sum[j](exp((lg[j] + g[j])/0.5))
""", "lg", {"i": 4}, {"lg": "small", "g": "small"}, tags=("activation",))

real("attention_relative_bias", """
S[h,i,j] = Q[h,i,d]*K[h,j,d] / sqrt(len(d)) + B[h,i,j]
P[h,i,j] = exp(S[h,i,j]) / sum[k](exp(S[h,i,k]))
O[h,i,e] = P[h,i,j]*V[h,j,e]
""", ["Q", "B"], {"h": 2, "i": 2, "j": 3, "d": 2, "e": 2}, tags=("attention",))

# -- Hessians and Jacobians ----------------------------------------------------------------

real("softmax_cross_entropy_hessian", """
p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))
L = -mean[n](sum[c](t[n,c]*log(p[n,c])))
""", "z", {"n": 2, "c": 3}, {"t": "onehot"}, tags=("hessian", "issue8-quoted"),
     kind="hessian")

real("logistic_regression_hessian", """
L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))
""", "w", {"n": 4, "d": 3}, {"y": "pm1"}, tags=("hessian", "issue8-quoted"), kind="hessian")

real("quadratic_form_hessian", "L = x[i]*A[i,j]*x[j]", "x", {"i": 3}, tags=("hessian",),
     kind="hessian")

real("logsumexp_hessian", "L = log(sum[i](exp(x[i])))", "x", {"i": 4}, tags=("hessian",),
     kind="hessian")

real("mlp_tanh_hessian", """
h[m] = tanh(W1[q,m]*x[q])
L = w2[m]*h[m]
""", "x", {"q": 3, "m": 2}, tags=("hessian",), kind="hessian")

real("ridge_hessian", """
L = 0.5*sum[n]((X[n,d]*w[d] - y[n])^2) + 0.5*lam*w[d]*w[d]
""", "w", {"n": 4, "d": 3}, {"lam": "positive"}, tags=("hessian",), kind="hessian")

real("hinge_hessian", """
# piecewise linear in w: the Hessian is zero almost everywhere
L = sum[n](relu(1 - y[n]*sum[d](X[n,d]*w[d])))
""", "w", {"n": 4, "d": 2}, {"y": "pm1"}, tags=("hessian",), kind="hessian")

real("softmax_jacobian", "p[i] = exp(x[i]) / sum[j](exp(x[j]))", "x", {"i": 4},
     tags=("jacobian",), kind="jacobian")

real("tanh_layer_jacobian", "y[i] = tanh(W[i,j]*x[j] + b[i])", "x", {"i": 2, "j": 3},
     tags=("jacobian",), kind="jacobian")

real("inverse_jacobian", "B[i,j] = inv(A)[i,j]", "A", {"i": 2}, {"A": "wellcond"},
     tags=("jacobian",), kind="jacobian")

real("layernorm_jacobian", """
mu[b]   = mean[i](x[b,i])
xc[b,i] = x[b,i] - mu[b]
var[b]  = mean[i](xc[b,i]^2)
y[b,i]  = xc[b,i] / sqrt(var[b] + 1e-5)
""", "x", {"b": 2, "i": 3}, tags=("jacobian",), kind="jacobian")


def by_name(name: str) -> Real:
    for p in PROGRAMS:
        if p.name == name:
            return p
    raise KeyError(name)


assert len({p.name for p in PROGRAMS}) == len(PROGRAMS), "duplicate program names"
