from . import benchmark
from . import book_generator
