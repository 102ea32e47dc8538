"""The picture to check retrieval at a glance: target images (first column) beside their
1st, 10th, 20th, 30th and 40th nearest source images (the paper's Fig. 2)."""
import numpy as np

RANKS = (1, 10, 20, 30, 40)


def target_title(index: int, label: int, class_names=None) -> str:
  """A target image's title: its index in the split, and its class (its name if known);
  'target 0' alone read like a class label."""
  name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else label
  return f'target image #{index}\nclass {name}'


def neighbours_png(path: str, idx, target, source, rows: int, class_names=None) -> str:
  """`class_names`: the target dataset's (None: label indices)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ranks = [r for r in RANKS if r <= idx.neighbours.shape[1]]
  # One target image per class first, so the rows differ.
  _, first = np.unique(target.labels, return_index=True)
  chosen = np.sort(first)[:rows]
  fig, axes = plt.subplots(len(chosen), 1 + len(ranks), squeeze=False,
                           figsize=(1.6 * (1 + len(ranks)), 1.7 * len(chosen)))
  timgs = target.eval_images(chosen)
  for row, (t, timg) in enumerate(zip(chosen, timgs)):
    simgs = source.eval_images(idx.neighbours[t, [r - 1 for r in ranks]])
    cells = [(timg, target_title(int(t), int(target.labels[t]), class_names))] + [
        (s, f'#{r} d={idx.distances[t, r - 1]:.2f}') for s, r in zip(simgs, ranks)]
    for ax, (img, title) in zip(axes[row], cells):
      ax.imshow(img)
      ax.set_title(title, fontsize=7)
      ax.axis('off')
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path
