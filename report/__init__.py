from . import collection_kpi_report
from . import collection_aged_receivable_report
from . import collection_cash_forecast_report
from . import collection_statement
from . import collection_dossier
from . import collection_analytics_report
