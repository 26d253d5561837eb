"""The blur-aware extension of FDIKP (issue 23): size-free spectra, float32 PAC accumulation,
blur guidance of the dilation map, the stage-carry and deconvolution gates, and starting it
from weights written before it."""

from __future__ import annotations

import pytest
import torch

from fdikp_cli.errors import ConfigError, WeightsError
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.model.frequency import amplitude_phase
from fdikp_cli.model.pac import DilationMap, position_adaptive_conv
from fdikp_cli.training.model_extension import extended_config, parameter_groups
from fdikp_cli.weights import load_state_extending

SMALL = {"widths": (8, 8), "level_blocks": (1, 1), "attention_heads": 2, "predictor_channels": 8}
EXTENDED = {"spectrum_reference_size": 64, "dilation_source": "defocus_map", "stage_carry": True,
            "deconvolution_skip": True, "coefficient_guidance": True}


def _trained_looking(model: FDIKP) -> FDIKP:
    """Nudge every parameter off its initialisation (kernels, coefficients, zero-initialised
    heads), so that every path carries signal. Returns the model."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_extension_fields_default_to_the_form_of_older_weights() -> None:
    config = FDIKPConfig()
    assert (config.spectrum_reference_size, config.dilation_source, config.stage_carry,
            config.deconvolution_skip) == (None, "photo", False, False)
    with pytest.raises(ConfigError, match="dilation_source"):
        FDIKPConfig(dilation_source="depth")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs pac"):
        FDIKPConfig(dilation_source="defocus_map", pac=False)
    with pytest.raises(ConfigError, match="coefficient_guidance"):
        FDIKPConfig(coefficient_guidance=True)


def test_amplitude_with_a_reference_size_does_not_grow_with_the_image() -> None:
    torch.manual_seed(0)
    small, large = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 256, 256)  # the same texture statistics
    raw = [amplitude_phase(x)[0].median() for x in (small, large)]
    ref = [amplitude_phase(x, 128)[0].median() for x in (small, large)]
    # Raw: |X| of a texture grows as sqrt(HW), 4x here: log1p moves by ~log 4.
    assert float(raw[1] - raw[0]) > 1.0
    assert abs(float(ref[1] - ref[0])) < 0.05
    # At S x S the normalised amplitude is the raw one: weights trained on S² crops keep working.
    torch.testing.assert_close(amplitude_phase(large, 256)[0], amplitude_phase(large)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(amplitude_phase(large, 256)[1], amplitude_phase(large)[1])


def test_pac_accumulates_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(1)
    image = torch.rand(1, 3, 24, 24)
    # A strong sharpening kernel (centre 9, ring -8): large taps of both signs, as trained kernels have.
    kernel = torch.full((5, 5), -8.0 / 24)
    kernel[2, 2] = 9.0
    kernels = kernel.expand(1, 2, 5, 5).contiguous()
    dilation = 1.0 + 3.0 * torch.rand(1, 1, 24, 24)
    exact = position_adaptive_conv(image.double(), kernels.double(), dilation.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = position_adaptive_conv(image, kernels, dilation)
    # bf16 accumulation of these sums errs by ~1e-2; float32 by ~1e-6.
    assert float((mixed.double() - exact).abs().max()) < 1e-4


def test_dilation_logit_term_raises_the_dilation_where_it_is_larger() -> None:
    torch.manual_seed(2)
    dilation_map = DilationMap(8.0)
    x = torch.rand(1, 3, 16, 16)
    term = torch.linspace(-3, 3, 16).reshape(1, 1, 1, 16).expand(1, 1, 16, 16)
    plain, guided = dilation_map(x), dilation_map(x, term)
    torch.testing.assert_close(dilation_map(x, torch.zeros_like(term)), plain)
    change = (guided - plain)[0, 0]
    assert (change[:, -1] > 0).all() and (change[:, 0] < 0).all()
    assert float(guided.detach().min()) >= 1.0 and float(guided.detach().max()) <= 8.0


def test_guidance_radius_is_in_each_stage_s_pixels_and_feeds_the_dilation() -> None:
    torch.manual_seed(3)
    model = FDIKP(FDIKPConfig(**SMALL, dilation_source="defocus_map")).eval()
    estimator = model.blur_guidance.estimator
    torch.nn.init.zeros_(estimator.head.weight)
    torch.nn.init.constant_(estimator.head.bias, 0.0)  # a constant 15 px at the estimator's input scale
    with torch.no_grad():
        model.blur_guidance.slope.fill_(0.5)
        out = model.forward_with_maps(torch.rand(1, 3, 64, 64))
    # 15 px at half resolution = 30 px at full resolution; /4, /2, /1 at the three stages.
    assert [float(m.radius.mean()) for m in out.maps] == pytest.approx([7.5, 15.0, 30.0], rel=1e-4)
    body = model.fikp.dilation.body
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32)
        expected = 1.0 + 7.0 * torch.sigmoid(body(x) + 0.5 * 30.0)
        torch.testing.assert_close(model.fikp.dilation(x, model.blur_guidance.logit_term(torch.full((1, 1, 32, 32), 30.0))),
                                   expected)


def test_zero_gates_and_slope_reproduce_the_model_without_the_extension() -> None:
    torch.manual_seed(4)
    plain = _trained_looking(FDIKP(FDIKPConfig(**SMALL)).eval())
    extended = FDIKP(FDIKPConfig(**SMALL, **EXTENDED)).eval()
    kept = load_state_extending(extended, plain.state_dict())
    assert "carry_gate" in kept and "blur_guidance.slope" in kept
    x = torch.rand(2, 3, 64, 64)  # 64² = the reference size: the spectra are the raw ones
    with torch.no_grad():
        torch.testing.assert_close(extended(x)[-1], plain(x)[-1], rtol=1e-4, atol=1e-4)
        for opened in (extended.deconvolution_gate, extended.carry_gate, extended.radius_to_coefficients.bias):
            opened.fill_(0.5)  # each path, opened alone, changes the output
            assert float((extended(x)[-1] - plain(x)[-1]).abs().mean()) > 1e-3
            opened.fill_(0.0)


def test_with_the_deconvolution_gate_open_the_output_depends_on_the_guided_dilation() -> None:
    torch.manual_seed(5)
    model = FDIKP(FDIKPConfig(**SMALL, **EXTENDED))
    kernel = torch.full((5, 5), -1.0 / 24)
    kernel[2, 2] = 2.0  # a sharpening kernel, so the dilation matters
    model.fikp.kernel_predictor.forward = lambda z: kernel.expand(z.shape[0], 5, 5, 5)  # type: ignore[method-assign]
    x = torch.rand(1, 3, 64, 64)
    gradients = []
    for gate in (0.0, 1.0):
        model.zero_grad()
        with torch.no_grad():
            model.deconvolution_gate.fill_(gate)
        model(x)[-1].square().mean().backward()
        gradients.append(abs(float(model.blur_guidance.offset.grad)))
    assert all(g == g for g in gradients)  # finite
    assert gradients[1] > 10 * gradients[0]


def test_only_extension_fields_may_change_over_an_initialisation_file() -> None:
    stored = FDIKPConfig(**SMALL)
    assert extended_config(stored, EXTENDED, "w").stage_carry
    with pytest.raises(ConfigError, match="kernel_size"):
        extended_config(stored, {"kernel_size": 7}, "w")
    model = FDIKP(FDIKPConfig(**SMALL, **EXTENDED))
    state = FDIKP(stored).state_dict()
    del state["to_image.weight"]  # not an extension part: still an error
    with pytest.raises(WeightsError, match="to_image.weight"):
        load_state_extending(model, state)


def test_gates_get_their_own_learning_rate_and_the_estimator_none() -> None:
    model = FDIKP(FDIKPConfig(**SMALL, **EXTENDED))
    groups = parameter_groups(model, 20.0)
    assert [g["lr_scale"] for g in groups] == [1.0, 20.0]
    assert len(groups[1]["params"]) == 6  # 2 gates, slope, offset, the radius conv's weight and bias
    estimator = {id(p) for p in model.blur_guidance.estimator.parameters()}
    assert not estimator & {id(p) for g in groups for p in g["params"]}


def test_coefficient_guidance_feeds_the_radius_to_the_coefficient_maps() -> None:
    torch.manual_seed(6)
    model = FDIKP(FDIKPConfig(**SMALL, **EXTENDED)).eval()
    estimator = model.blur_guidance.estimator
    torch.nn.init.zeros_(estimator.head.weight)
    x = torch.rand(1, 3, 64, 64)
    coefficient_maps = []
    for bias in (-3.0, 3.0):  # a small and a large constant radius
        torch.nn.init.constant_(estimator.head.bias, bias)
        with torch.no_grad():
            model.radius_to_coefficients.weight.fill_(0.0)
            model.radius_to_coefficients.weight[:, 0, 1, 1] = 1.0
            coefficient_maps.append(model.forward_with_maps(x).maps[-1].coefficients)
    assert float((coefficient_maps[1] - coefficient_maps[0]).abs().mean()) > 1e-4


def test_state_dilation_head_starts_silent_then_moves_the_dilation_of_stages_two_and_three() -> None:
    torch.manual_seed(7)
    plain = _trained_looking(FDIKP(FDIKPConfig(**SMALL)).eval())
    model = FDIKP(FDIKPConfig(**SMALL, dilation_from_state=True)).eval()
    assert load_state_extending(model, plain.state_dict()) == ["state_dilation.to_logit.bias",
                                                               "state_dilation.to_logit.weight"]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], plain(x)[-1])
        # A constant logit term b (weights 0, bias b): stage s >= 2 has D = 1 + 7 sigmoid(body(x_s) + b),
        # computed here from the dilation module alone; stage 1 has no state before it and stays.
        model.state_dilation.to_logit.bias.fill_(1.5)
        maps = model.forward_with_maps(x).maps
        plain_maps = plain.forward_with_maps(x).maps
        torch.testing.assert_close(maps[0].dilation_input, plain_maps[0].dilation_input)
        for s, factor in ((1, 2), (2, 1)):
            x_s = torch.nn.functional.avg_pool2d(x, factor) if factor > 1 else x
            expected = 1.0 + 7.0 * torch.sigmoid(model.fikp.dilation.body(x_s) + 1.5)
            torch.testing.assert_close(maps[s].dilation_input, expected)


def test_state_dilation_head_learns_from_the_loss_and_is_a_gate_parameter() -> None:
    torch.manual_seed(8)
    model = _trained_looking(FDIKP(FDIKPConfig(**SMALL, dilation_from_state=True)))
    with torch.no_grad():
        model.state_dilation.to_logit.weight.zero_()
        model.state_dilation.to_logit.bias.zero_()
    model(torch.rand(1, 3, 64, 64))[-1].square().mean().backward()
    # From zero, the gradient reaches the head's weights (through the next stage's PAC).
    assert float(model.state_dilation.to_logit.weight.grad.abs().sum()) > 0
    gate_params = {id(p) for p in parameter_groups(model, 20.0)[1]["params"]}
    assert {id(p) for p in model.state_dilation.parameters()} == gate_params
    with pytest.raises(ConfigError, match="dilation_from_state needs pac"):
        FDIKPConfig(dilation_from_state=True, pac=False)
