"""TF-free TFDS builders; importing this package registers them with TFDS."""

from adafilter_jax.data.builders.caltech256 import Caltech256
from adafilter_jax.data.builders.digits import Digits
from adafilter_jax.data.builders.image_folder import ImageFolder
from adafilter_jax.data.builders.fgvc_aircraft import FgvcAircraft
from adafilter_jax.data.builders.mit_indoor67 import MitIndoor67
from adafilter_jax.data.builders.omniglot_small import OmniglotSmall
