from . import test_figures
from . import test_dunning
from . import test_dunning_delivery
from . import test_dunning_concurrency
from . import test_dunning_tour
