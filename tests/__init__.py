from . import test_figures
from . import test_promise
from . import test_tour
from . import test_access
from . import test_interaction
from . import test_external_api
from . import test_i18n
