"""The decathlon score against hand computations and SpotTune's published Table 3."""
import json
import os

import pytest

from adafilter_jax.systems import decathlon


def test_a_domain_scores_1000_250_and_0():
  # Aircraft: baseline 60.34 % -> error 39.66, E_max 79.32.
  assert decathlon.domain_score(100.0, 60.34) == pytest.approx(1000.0)
  assert decathlon.domain_score(60.34, 60.34) == pytest.approx(250.0)
  assert decathlon.domain_score(100 - 79.32, 60.34) == pytest.approx(0.0, abs=1e-9)
  assert decathlon.domain_score(5.0, 60.34) == 0.0  # worse than 2x the baseline's error
  # Halfway between perfect and the baseline: (79.32 - 19.83)^2 / 79.32^2 * 1000
  assert decathlon.domain_score(100 - 19.83, 60.34) == pytest.approx(562.5, abs=0.01)


def test_the_baseline_scores_2500_and_perfection_10000():
  s, terms = decathlon.score(decathlon.BASELINE_TOP1)
  assert s == pytest.approx(2500.0) and len(terms) == 10
  assert decathlon.score({d: 100.0 for d in decathlon.DOMAINS})[0] == pytest.approx(10000.0)


def test_bad_input_is_named():
  with pytest.raises(ValueError, match='caltech'):
    decathlon.score({'caltech': 50.0})
  with pytest.raises(ValueError, match='percentage'):
    decathlon.domain_score(150.0, 60.0)


def _gap(top1, published):
  s, _ = decathlon.score(top1)
  return s - published


def test_other_papers_rows_reproduce_with_the_same_baseline():
  # Liu et al., MTAN (CVPR 2019), Table 4: rows quoted from Rebuffi et al. 2017/2018,
  # Rosenfeld & Tsotsos, Mallya et al. and MTAN's own, with the challenge server's S.
  # "Finetune" is the Decathlon's baseline itself: 2500, i.e. E_max = 2 x its errors.
  rows = {
      'Scratch': ((59.87, 57.10, 75.73, 91.20, 37.77, 96.55, 56.3, 88.74, 96.63, 43.27), 1625),
      'Finetune': ((59.87, 60.34, 82.12, 92.82, 55.53, 97.53, 81.41, 87.69, 96.55, 51.20), 2500),
      'Feature': ((59.67, 23.31, 63.11, 80.33, 45.37, 68.16, 73.69, 58.79, 43.54, 26.8), 544),
      'Res. adapt.': ((59.67, 56.68, 81.20, 93.88, 50.85, 97.05, 66.24, 89.62, 96.13, 47.45), 2118),
      'DAN': ((57.74, 64.12, 80.07, 91.30, 56.54, 98.46, 86.05, 89.67, 96.77, 49.38), 2851),
      'Piggyback': ((57.69, 65.29, 79.87, 96.99, 57.45, 97.27, 79.09, 87.63, 97.24, 47.48), 2838),
      'Parallel SVD': ((60.32, 66.04, 81.86, 94.23, 57.82, 99.24, 85.74, 89.25, 96.62, 52.50), 3398),
      'MTAN': ((63.90, 61.81, 81.59, 91.63, 56.44, 98.80, 81.04, 89.83, 96.88, 50.63), 2941),
  }
  for name, (accs, published) in rows.items():
    assert abs(_gap(dict(zip(decathlon.DOMAINS, accs)), published)) <= 3, name
  assert rows['Finetune'][0] == tuple(decathlon.BASELINE_TOP1[d] for d in decathlon.DOMAINS)


def test_spottune_table3_scores_reproduce_for_12_of_15_rows():
  off = {name: round(_gap(top1, published))
         for name, (_, top1, published) in decathlon.paper_table3().items()
         if abs(_gap(top1, published)) > 5}
  # docs/decathlon.md: no other source prints these three rows' accuracies; SpotTune's
  # 3612 and the other 11 agree.
  assert off == {'Fine-tuning': 20, 'BN adaptation': 9, 'SpotTune (Global-k)': 10}
  # As printed, the feature extractor's DTD (the baseline's 55.53) scores it 647, not 544.
  printed = decathlon.paper_table3(corrected=False)['Feature extractor']
  assert printed[1]['dtd'] == 55.53 and round(_gap(printed[1], printed[2])) == 103


def test_rounding_of_the_printed_accuracies_does_not_explain_the_misses():
  # The server scores unrounded accuracies; each printed one is within 0.005 of it.
  # Moving every accuracy 0.005 towards the published S still leaves the three rows > 5 off.
  for name in ('Fine-tuning', 'BN adaptation', 'SpotTune (Global-k)'):
    _, top1, published = decathlon.paper_table3()[name]
    nudged = {d: a - 0.005 for d, a in top1.items()}  # all three score too high
    assert _gap(nudged, published) > 5, name


def test_errata_must_match_the_printed_cell(monkeypatch):
  monkeypatch.setitem(decathlon.TABLE3_ERRATA, 'SpotTune', {'dtd': (50.0, 51.0)})
  with pytest.raises(ValueError, match="TABLE3_ERRATA\\['SpotTune'\\]\\['dtd'\\].*57.13"):
    decathlon.paper_table3()


def _run(root, dataset, method, seed, top1):
  d = os.path.join(root, dataset, method, f'seed_{seed}')
  os.makedirs(d)
  with open(os.path.join(d, 'summary.json'), 'w') as f:
    json.dump({'method': method, 'dataset': dataset, 'final_eval_top1': top1}, f)


def test_command_reads_runs_and_prints_s(tmp_path, capsys):
  root = str(tmp_path)
  _run(root, 'decathlon_aircraft', 'finetune', 0, 0.6034)
  _run(root, 'decathlon_aircraft', 'finetune', 1, 0.6034)
  _run(root, 'decathlon_vgg_flowers', 'finetune', 0, 1.0)
  _run(root, 'caltech256_30', 'finetune', 0, 0.5)  # not a Decathlon domain: ignored
  results = decathlon.collect([root])
  assert results == {'finetune': {'aircraft': [pytest.approx(60.34)] * 2,
                                  'vgg-flowers': [100.0]}}
  assert decathlon.main([root, '--out', os.path.join(root, 't.md')]) == 0
  out = capsys.readouterr().out
  assert '| finetune | — | 60.34 |' in out and '1250 (8 missing)' in out
  assert 'finetune: Airc. 250, Flwr 1000' in out
  assert '| Feature extractor (1x) | 59.67 | 23.31 | 63.11 | 80.33 | 45.37 |' in out
  assert 'Feature extractor: DTD 45.37 as in its source (SpotTune prints 55.53).' in out
  assert open(os.path.join(root, 't.md')).read() in out
