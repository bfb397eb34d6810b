"""Learning-curve figure: numerical and physical validation accuracy are told apart."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from training import figures  # noqa: E402


def test_learning_curves_mark_physical_and_numerical_validation(tmp_path, monkeypatch):
    hist = [{"epoch": e, "loss": 1.0 / e, "val_accuracy": 0.1 * e} for e in (1, 2, 3)]
    captured = {}
    monkeypatch.setattr(figures, "save", lambda fig, path, **kw: captured.setdefault("fig", fig) and path)
    figures.learning_curves({"mesh-ideal": hist, "mesh-dat": hist}, tmp_path / "lc.png", title="t",
                            validated_on={"mesh-ideal": "numerical", "mesh-dat": "physical"})
    acc_axis = captured["fig"].axes[1]
    styles = {line.get_label(): line.get_linestyle() for line in acc_axis.get_lines()}
    assert styles == {"mesh-ideal (numerical model)": "-", "mesh-dat (physical system)": "--"}
    legend = [t.get_text() for t in acc_axis.get_legend().get_texts()]
    assert legend == ["mesh-ideal (numerical model)", "mesh-dat (physical system)"]
    # the loss and the accuracy curve of one arm share a colour
    loss_colours = [line.get_color() for line in captured["fig"].axes[0].get_lines()]
    assert loss_colours == [line.get_color() for line in acc_axis.get_lines()]
    plt.close(captured["fig"])


def test_learning_curves_default_to_numerical(tmp_path):
    hist = [{"epoch": 1, "loss": 1.0, "val_accuracy": 0.5}]
    path = figures.learning_curves({"a": hist}, tmp_path / "lc.png", title="t")
    assert path.is_file() and path.stat().st_size > 0


def test_the_loss_axis_turns_logarithmic_only_for_losses_of_different_sizes(tmp_path, monkeypatch):
    def loss_scale(histories):
        captured = {}
        monkeypatch.setattr(figures, "save", lambda fig, path, **kw: captured.setdefault("fig", fig) and path)
        figures.learning_curves(histories, tmp_path / "lc.png", title="t")
        scale = captured["fig"].axes[0].get_yscale()
        plt.close(captured["fig"])
        return scale

    mse = [{"epoch": e, "loss": 1.5e-3 / e, "val_accuracy": 0.9} for e in (1, 2)]
    ce = [{"epoch": e, "loss": 0.26 / e, "val_accuracy": 0.95} for e in (1, 2)]
    assert loss_scale({"mse": mse, "ce": ce}) == "log"  # 0.26 against 7.5e-4: a factor of ~350
    assert loss_scale({"ce": ce}) == "linear"  # a factor of 2
    assert loss_scale({"a": [{"epoch": 1, "loss": 0.0, "val_accuracy": 0.5},
                             {"epoch": 2, "loss": 1.0, "val_accuracy": 0.5}]}) == "linear"  # a zero loss
