from . import whatsapp
