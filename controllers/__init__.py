from . import main
from . import portal
from . import webhook
from . import webhook_twilio
