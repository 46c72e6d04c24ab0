from . import test_book_generator
