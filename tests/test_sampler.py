"""The curriculum reaches data-loader workers (persistent ones too), identically on every rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform
from torch.utils.data import DataLoader, Dataset

from efficienttrain.curricula import efficienttrain, efficienttrain_pp
from efficienttrain.data import CurriculumBatchSampler, CurriculumDataset, SampleKey, ShrinkPlan, build_train_transform, find_randaugment, set_magnitude


class MagnitudeProbe:
    """A transform that reports the magnitude the worker's RandAugment holds, and a random draw."""

    def __init__(self) -> None:
        self.ra = rand_augment_transform("rand-m9-mstd0.5-inc1", {})
        self.transforms = [self.ra]

    def __call__(self, img):
        return torch.tensor([self.ra.ops[0].magnitude, torch.rand(()).item(), float(np.random.rand())])


class ProbeDataset(Dataset):
    def __init__(self, n: int = 40) -> None:
        self.n = n
        self.transform = MagnitudeProbe()
        self.img = Image.new("RGB", (8, 8))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.transform(self.img), i


def _collect(loader, sampler, epochs):
    seen = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for step, (x, idx) in enumerate(loader):
            expected = sampler.settings(epoch, step).magnitude
            seen.append((epoch, step, x[:, 0].tolist(), expected, x[:, 1].tolist(), idx.tolist()))
    return seen


@pytest.mark.parametrize("workers", [0, 2])
def test_magnitude_reaches_persistent_workers(workers):
    cur = efficienttrain(6, 224)
    ds = CurriculumDataset(ProbeDataset())
    sampler = CurriculumBatchSampler(ds, cur, batch_size=8, seed=3)
    kwargs = {"num_workers": workers, "persistent_workers": True} if workers else {}
    loader = DataLoader(ds, batch_sampler=sampler, **kwargs)
    seen = _collect(loader, sampler, cur.num_epochs)
    assert len(seen) == 6 * 5
    for epoch, step, mags, expected, _, _ in seen:
        assert mags == pytest.approx([expected] * len(mags)), (epoch, step)
    assert seen[0][3] == pytest.approx(1.5) and seen[-1][3] == pytest.approx(9.0)


def test_augmentation_is_independent_of_workers():
    cur = efficienttrain(2, 224)
    runs = []
    for workers in (0, 2):
        ds = CurriculumDataset(ProbeDataset())
        sampler = CurriculumBatchSampler(ds, cur, batch_size=8, seed=5)
        loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, persistent_workers=bool(workers))
        runs.append([(s[4], s[5]) for s in _collect(loader, sampler, 2)])
    assert runs[0] == runs[1]


def test_main_process_rng_untouched():
    ds = CurriculumDataset(ProbeDataset())
    torch.manual_seed(0)
    before = torch.get_rng_state()
    ds[SampleKey(1, 3.0, None, 99)]
    assert torch.equal(torch.get_rng_state(), before)


def test_ranks_get_identical_settings_and_disjoint_samples():
    cur = efficienttrain_pp(3, 224, family="deit")
    samplers = [CurriculumBatchSampler(100, cur, batch_size=5, num_replicas=2, rank=r, seed=1) for r in (0, 1)]
    for epoch in range(cur.num_epochs):
        batches = []
        for s in samplers:
            s.set_epoch(epoch)
            batches.append(list(s))
        assert len(batches[0]) == len(batches[1])
        for b0, b1 in zip(*batches):
            assert [k.magnitude for k in b0] == [k.magnitude for k in b1]
        idx0 = {k.index for b in batches[0] for k in b}
        idx1 = {k.index for b in batches[1] for k in b}
        assert not idx0 & idx1


def test_fractional_final_epoch_and_total_steps():
    cur = efficienttrain_pp(1, 224, family="convnext")  # ends at a fractional epoch
    s = CurriculumBatchSampler(64, cur, batch_size=8)
    assert s.steps_per_epoch == 8
    frac = cur.epochs - (cur.num_epochs - 1)
    assert 0 < frac < 1
    assert s.batches_in_epoch(cur.num_epochs - 1) == int(np.ceil(frac * 8))
    assert s.total_steps == 8 * (cur.num_epochs - 1) + s.batches_in_epoch(cur.num_epochs - 1)


def test_resume_mid_epoch_yields_the_rest():
    cur = efficienttrain(4, 224)
    s = CurriculumBatchSampler(40, cur, batch_size=4, seed=2)
    s.set_epoch(1)
    full = list(s)
    s.load_state_dict({"epoch": 1, "start_step": 3, "seed": 2})
    assert len(s) == len(full) - 3
    assert list(s) == full[3:]


def test_crop_in_workers_carries_size():
    cur = efficienttrain(5, 64)
    s = CurriculumBatchSampler(20, cur, batch_size=4, crop_in_workers=True)
    s.set_epoch(0)
    assert {k.size for b in s for k in b} == {46}


def test_crop_in_workers_equals_batch_crop():
    from efficienttrain.api import crop_batch

    tf = build_train_transform(32, randaugment=None, re_prob=0.0)
    from efficienttrain.data import DemoDataset

    base = DemoDataset("train", per_class=2, image_size=32, transform=tf)
    in_workers = CurriculumDataset(base, plan=ShrinkPlan("workers"), expect_randaugment=False)
    on_device = CurriculumDataset(base, expect_randaugment=False)
    key = SampleKey(3, 1.0, 23, 7)
    worker_crop = in_workers[key][0]
    batch_crop = crop_batch(on_device[key][0].unsqueeze(0), 23)[0]
    assert worker_crop.shape == (3, 23, 23)
    assert (worker_crop - batch_crop).abs().max() < 1e-5


def test_set_magnitude_handles_timm_and_torchvision():
    from torchvision.transforms import Compose, RandAugment

    tv = Compose([RandAugment(num_magnitude_bins=31)])
    assert set_magnitude(tv, 5.0) == 1 and tv.transforms[0].magnitude == 15
    timm_tf = build_train_transform(32)
    assert set_magnitude(timm_tf, 2.5) == 1
    assert all(op.magnitude == 2.5 for op in find_randaugment(timm_tf)[0].ops)
    assert set_magnitude(build_train_transform(32, randaugment=None), 3.0) == 0


def test_posterize_at_extreme_magnitudes_does_not_crash():
    """timm asks Pillow for 0 bits at m=10 ('inc') or m<2.5; Pillow 13 raises for that."""
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    for config, m in (("rand-m9-mstd0-inc1", 10.0), ("rand-m9-mstd0-inc0", 0.0)):
        tf = rand_augment_transform(config, {})
        set_magnitude(tf, m)
        for op in tf.ops:
            if op.name.startswith("Posterize"):
                op.prob = 1.0
                out = op(img)
                assert out.size == img.size


def test_warns_without_randaugment():
    class Plain(Dataset):
        transform = None

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.zeros(1), i

    with pytest.warns(UserWarning, match="no RandAugment"):  # once, where the dataset is wrapped (not in a worker)
        ds = CurriculumDataset(Plain())
    assert ds[SampleKey(0, 1.0, None, 1)][1] == 0


def test_sampler_errors():
    with pytest.raises(ValueError, match="batch_size"):
        CurriculumBatchSampler(10, efficienttrain(2, 224), batch_size=0)
    with pytest.raises(ValueError, match="do not fill one batch"):
        CurriculumBatchSampler(10, efficienttrain(2, 224), batch_size=16)


def test_wrapping_a_subset():
    """random_split returns Subsets; their __getitems__ must not receive SampleKeys."""
    from torch.utils.data import Subset

    ds = CurriculumDataset(Subset(ProbeDataset(), list(range(0, 40, 2))))
    sampler = CurriculumBatchSampler(ds, efficienttrain(2, 224), batch_size=4)
    batches = list(DataLoader(ds, batch_sampler=sampler))
    assert len(batches) == 5 and batches[0][0].shape == (4, 3)
    assert sorted(int(i) for b in batches for i in b[1]) == list(range(0, 40, 2))  # the Subset got plain indices


def test_a_ramp_that_leaves_the_recipes_magnitude_is_named():
    """Issue 38: a recipe moved to EfficientTrain keeps its tuned magnitude; a ramp to another one is said."""
    import warnings

    from torchvision.transforms import Compose, RandAugment, ToTensor

    from efficienttrain.data import DemoDataset

    recipe = CurriculumDataset(DemoDataset("train", per_class=2, image_size=32, transform=build_train_transform(32, randaugment="rand-m6-mstd0.5-inc1")))
    assert recipe.transforms.recipe_magnitude == 6
    with pytest.warns(UserWarning, match="ramp ends at m=9, but your transform's RandAugment is m=6; build the curriculum with max_magnitude=6"):
        CurriculumBatchSampler(recipe, efficienttrain(4, 32), batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CurriculumBatchSampler(recipe, efficienttrain(4, 32, max_magnitude=6), batch_size=4)  # the ramp ends at the recipe's
    # torchvision's default RandAugment (bin 9 of 31) is m = 3 on timm's scale, as set_magnitude maps it.
    tv = CurriculumDataset(DemoDataset("train", per_class=2, image_size=32, transform=Compose([RandAugment(), ToTensor()])))
    assert tv.transforms.recipe_magnitude == pytest.approx(3.0)
