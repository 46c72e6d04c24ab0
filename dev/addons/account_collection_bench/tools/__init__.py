from . import backtest
from . import benchmark
from . import book_generator
