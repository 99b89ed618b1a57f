"""Golden printouts of issue 8: what a careful person writes, pinned exactly.

Each form is one a person reviewed: constants as written (GELU), fractions cancelled
(binary cross-entropy is ``(p - t)/N``), equal terms collected (``tr(X⁴)``),
``x*sign(x)/abs(x)`` read as 1 (``log|det A|``), Hessians that reuse the forward values
(``p``, the margin ``m``) and are self-contained, zero printed as ``= 0``. The numbers
behind every printout are checked elsewhere (tests/test_real_programs.py); here a change
of wording fails until a person looks at it again.
"""

import warnings

import pytest

import indexcalc as ic

GOLDEN = {
    "gelu": ("y[i] = 0.5*x[i]*(1 + tanh(0.7978845608*(x[i] + 0.044715*x[i]^3)))", None, ic.derive, """\
t1[i] = tanh(0.7978845608*(x[i] + 0.044715*x[i]^3))
t2[i] = 1 - t1[i]^2
dx[i] = dy[i]*(0.5*(t1[i] + 1) + 0.5*0.7978845608*t2[i]*x[i] + 1.5*0.044715*0.7978845608*x[i]^3*t2[i])"""),
    "binary_cross_entropy": ("p[n] = sigmoid(z[n])\nL = -mean[n](t[n]*log(p[n]) + (1 - t[n])*log(1 - p[n]))",
                             "z", ic.derive, "dz[n] = (p[n] - t[n])/len(n)"),
    "logistic_regression": ("m[n] = X[n,d]*w[d]\np[n] = sigmoid(m[n])\n"
                            "L = -mean[n](y[n]*log(p[n]) + (1 - y[n])*log(1 - p[n]))",
                            "w", ic.derive, "dw[d] = X[n,d]*(p[n] - y[n])/len(n)"),
    "trace_X4": ("L = X[i,j]*X[j,k]*X[k,l]*X[l,i]", "X", ic.derive, "dX[i,j] = 4*X[l,i]*X[k,l]*X[j,k]"),
    "log_abs_det": ("L = log(abs(det(A)))", "A", ic.derive, "dA[i,j] = inv(A)[j,i]"),
    "logdet": ("L = logdet(A)", "A", ic.derive, "dA[i,j] = inv(A)[j,i]"),
    "cross_entropy_hessian": ("p[n,k] = exp(z[n,k])/sum[c](exp(z[n,c]))\nL = -sum[n,k](t[n,k]*log(p[n,k]))",
                              "z", ic.hessian, """\
dp_dz[n,k,o,l] = p[n,k]*delta(n,o)*(delta(k,l) - p[n,l])
ddz_dz[n,k,o,l] = sum[c](t[n,c]*dp_dz[n,k,o,l])"""),
    "logistic_hessian": ("m[n] = y[n]*sum[d](X[n,d]*w[d])\nL = sum[n](log(1 + exp(-m[n])))", "w", ic.hessian, """\
dm_dw[n,e] = X[n,e]*y[n]
ddw_dw[d,e] = X[n,d]*y[n]*dm_dw[n,e]*exp(m[n])/(exp(m[n]) + 1)^2"""),
    "zero_gradient": ("L = step(x[i,j])", None, ic.derive, "dx[i,j] = 0"),
    "zero_hessian": ("L = 2*w[d]", "w", ic.hessian, "dw[d] = 2\nddw_dw[d,e] = 0"),
    "alias_free_hessian": ("t1[i] = tanh(x[i])\ny[i] = -t1[i]\nL = sum[i](y[i]^2)", "x", ic.hessian, """\
dt1_dx[i,j] = delta(i,j)*(1 - t1[i]^2)
ddx_dx[i,j] = 2*dt1_dx[i,j]*(2*t1[i]*y[i] + 1 - t1[i]^2)"""),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_printout(name):
    src, wrt, how, want = GOLDEN[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is a suspicious program
        got = str(how(src, wrt))
    assert got == want, f"\n--- got\n{got}\n--- want\n{want}"
