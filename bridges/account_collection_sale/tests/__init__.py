from . import test_i18n
from . import test_sale_credit_hold
