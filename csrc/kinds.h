/* kinds.h — the codes that pick one elementwise activation or one pointwise loss. The engine's
 * kernels switch on them (generic/activation.h, loss.c); the binding (csrc/python/) exports them
 * to Python as _cnn.ACT_* and _cnn.LOSS_* and maps each to its public function in cnn.h, which
 * has one function per kind (GELU's two kinds: the two `approximate` values of cnn_gelu_*). Not
 * part of the public API. */
#ifndef CNN_KINDS_H
#define CNN_KINDS_H

enum act_kind { ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH, ACT_GELU, ACT_GELU_TANH };

enum pointwise_loss { LOSS_MSE, LOSS_L1, LOSS_BCE, LOSS_BCE_LOGITS };

#endif /* CNN_KINDS_H */
