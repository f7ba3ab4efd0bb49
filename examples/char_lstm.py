"""A character-level LSTM language model on a short text embedded in this file.

The network reads the text one character at a time and learns to predict the next one:
an embedding of each character, an LSTM that carries what it has read so far in its
state ``(h, c)``, and a linear layer giving the scores of the next character. Trained
with truncated backpropagation through time on random windows of the text, then asked to
write, one sampled character after another.

The LSTM is ``nn.LSTM`` (one fused op for the whole sequence); with ``--manual`` it is
the cell written out with core ops below -- the four gates (input, forget, cell,
output, PyTorch's order) from two matrix products, ``c = f*c + i*g``, ``h = o*tanh(c)``
-- and autodiff backpropagates through every time step of the Python loop. The script
first checks that the two compute the same thing.

    python examples/char_lstm.py            # 1500 steps
    python examples/char_lstm.py --quick    # 150 steps, a smaller net
    python examples/char_lstm.py --manual   # the hand-written cell instead of nn.LSTM
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn

TEXT = """\
a network is a graph of modules, and learning is the chain rule run backwards through \
that graph. each module takes its inputs and gives its outputs, and each one knows how \
to turn the gradient of the loss with respect to its outputs into the gradient with \
respect to its inputs and its weights. the loss is a number at the end of the graph. \
to learn, we ask how the number changes when each weight changes a little, and we move \
every weight a little downhill. the chain rule says that the change at the end is the \
product of the changes along the way, so we can pass the gradient back from module to \
module, from the loss to the first layer, and each module does only its own small part. \
a recurrent network is the same graph unrolled in time: the same module is used again \
at every step, its state carries what it has read so far, and the gradient flows back \
through the steps as it flows back through the layers. the long short term memory cell \
keeps a second state that is changed only by adding and forgetting, so that the \
gradient can travel far back without fading away. the forget gate decides what to keep, \
the input gate decides what to write, and the output gate decides what to show. with \
these three gates the cell can remember a word it saw many steps ago, and a network \
that reads one character at a time can learn to spell.
"""


class ManualLSTM(nn.Module):
    """A one-layer LSTM written with core ops; the same parameters, gate order (i, f, g,
    o), initialisation and call convention as ``nn.LSTM(input_size, hidden_size,
    batch_first=True)``.

    Shapes: x (B, T, input_size), optional state ``(h0, c0)`` each (1, B, hidden_size)
    -> ``(output (B, T, hidden_size), (h_n, c_n))`` with ``h_n``, ``c_n`` (1, B,
    hidden_size).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        H = hidden_size
        self.weight_ih_l0 = nn.Parameter(np.zeros((4 * H, input_size), np.float32))
        self.weight_hh_l0 = nn.Parameter(np.zeros((4 * H, H), np.float32))
        self.bias_ih_l0 = nn.Parameter(np.zeros(4 * H, np.float32))
        self.bias_hh_l0 = nn.Parameter(np.zeros(4 * H, np.float32))
        bound = 1 / math.sqrt(H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(
        self, x: cr.Tensor, state: tuple[cr.Tensor, cr.Tensor] | None = None
    ) -> tuple[cr.Tensor, tuple[cr.Tensor, cr.Tensor]]:
        B, T, _ = x.shape
        H = self.hidden_size
        if state is None:
            h = cr.zeros((B, H), dtype=x.dtype)
            c = cr.zeros((B, H), dtype=x.dtype)
        else:
            h, c = state[0][0], state[1][0]
        # the input's share of every gate, for all steps at once: (B, T, 4H)
        xw = x @ self.weight_ih_l0.T + self.bias_ih_l0
        outputs = []
        for t in range(T):
            gates = xw[:, t] + h @ self.weight_hh_l0.T + self.bias_hh_l0
            i, f, g, o = cr.split(gates, 4, axis=1)
            c = cr.sigmoid(f) * c + cr.sigmoid(i) * cr.tanh(g)
            h = cr.sigmoid(o) * cr.tanh(c)
            outputs.append(h)
        return cr.stack(outputs, axis=1), (h.unsqueeze(0), c.unsqueeze(0))


class CharModel(nn.Module):
    """Embedding -> LSTM -> Linear: (B, T) character ids -> (B, T, vocab) scores."""

    def __init__(self, vocab: int, embed: int, hidden: int, manual: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        if manual:
            self.lstm: nn.Module = ManualLSTM(embed, hidden)
        else:
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: Any, state: Any = None) -> tuple[cr.Tensor, Any]:
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def check_against_nn_lstm(seed: int) -> bool:
    """The hand-written cell and ``nn.LSTM`` agree, given the same weights."""
    cr.manual_seed(seed)
    ref = nn.LSTM(5, 7, batch_first=True)
    mine = ManualLSTM(5, 7)
    mine.load_state_dict(ref.state_dict())
    x = cr.randn(3, 6, 5)
    h0, c0 = cr.randn(1, 3, 7), cr.randn(1, 3, 7)
    with cr.no_grad():
        out_a, (h_a, c_a) = ref(x, (h0, c0))
        out_b, (h_b, c_b) = mine(x, (h0, c0))
    return all(
        np.allclose(a.numpy(), b.numpy(), atol=1e-5)
        for a, b in ((out_a, out_b), (h_a, h_b), (c_a, c_b))
    )


def sample(model: CharModel, chars: list[str], prompt: str, n: int, temperature: float,
           rng: np.random.Generator) -> str:  # fmt: skip
    """Continue ``prompt`` by ``n`` characters drawn from the model, one at a time."""
    index = {ch: i for i, ch in enumerate(chars)}
    model.eval()
    out = list(prompt)
    with cr.no_grad():
        scores, state = model(cr.tensor(np.array([[index[ch] for ch in prompt]])))
        for _ in range(n):
            logits = scores.numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            nxt = int(rng.choice(len(chars), p=p / p.sum()))
            out.append(chars[nxt])
            scores, state = model(cr.tensor(np.array([[nxt]])), state)
    model.train()
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (1500)")
    parser.add_argument("--hidden", type=int, default=None, help="LSTM width (128)")
    parser.add_argument("--seq-len", type=int, default=None, help="BPTT window (48)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (1e-2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manual", action="store_true", help="core-ops cell, not nn.LSTM")
    parser.add_argument("--quick", action="store_true", help="150 steps, a smaller net")
    args = parser.parse_args(argv)
    steps = args.steps or (150 if args.quick else 1500)
    hidden = args.hidden or (64 if args.quick else 128)
    seq_len = args.seq_len or (24 if args.quick else 48)
    batch = 16 if args.quick and args.batch_size == 32 else args.batch_size

    manual = args.manual
    print("using the LSTM cell written with core ops (--manual)" if manual else "using nn.LSTM")
    print(f"hand-written cell matches nn.LSTM: {check_against_nn_lstm(args.seed)}")

    chars = sorted(set(TEXT))
    data = np.array([chars.index(ch) for ch in TEXT], dtype=np.int64)
    print(f"text: {len(TEXT)} characters, vocabulary of {len(chars)}")
    cr.manual_seed(args.seed)
    model = CharModel(len(chars), 16, hidden, manual)
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(args.seed)
    print(f"model: embedding 16, LSTM {hidden}, {model.num_parameters():,} parameters; "
          f"{steps} steps of {batch} windows x {seq_len} characters")  # fmt: skip

    losses: list[float] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        starts = rng.integers(0, len(data) - seq_len - 1, size=batch)
        window = np.stack([data[s : s + seq_len + 1] for s in starts])
        inputs, targets = window[:, :-1], window[:, 1:]
        opt.zero_grad()
        scores, _ = model(cr.tensor(inputs))
        loss = loss_fn(scores.reshape(-1, len(chars)), cr.tensor(targets.reshape(-1)))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        losses.append(loss.item())
        if step == 1 or step % max(steps // 10, 1) == 0:
            recent = float(np.mean(losses[-max(steps // 10, 1) :]))
            print(f"step {step:5d}  loss {recent:.3f}  ({recent / math.log(2):.2f} bits/char)")
    elapsed = time.perf_counter() - start

    first = losses[0]
    last = float(np.mean(losses[-max(steps // 10, 1) :]))
    print(f"trained in {elapsed:.1f} s")
    print(f"loss: {first:.3f} -> {last:.3f} (uniform guessing: {math.log(len(chars)):.3f})")
    text = sample(model, chars, "the ", 160, 0.7, np.random.default_rng(args.seed))
    print(f"sample: {text!r}")
    return {"first": first, "last": last}


if __name__ == "__main__":
    main()
