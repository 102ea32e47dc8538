"""SpotTune global-k, step 1: SpotTune's recipe with l_c + lambda_k*(sum_l v_l - k)^2 +
lambda_e*sum_l -v_l log v_l, which drives every image to fine-tune the same k blocks
(k = 3 as in the paper; the lambdas are ours, methods/spottune.py). Step 2 is
configs/methods/spottune_fixed.py.

  python main.py --config configs/transfer.py:dataset=caltech256_30,method=spottune_global_k
"""
from configs.methods import variant

apply = variant('spottune', 'spottune_global_k')
