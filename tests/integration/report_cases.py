"""The city list and days of the backtest and report tests (see conftest.py)."""

# A list with a city the offline geocoder cannot find and a name that is markup (given
# coordinates, so it is forecast and labelled on the map).
HOSTILE = "<img src=x onerror=alert('xss')>"
REPORT_CITIES = (
    "city,country,lat,lon\n"
    "Sydney,AU,,\n"
    "Perth,AU,,\n"
    "Darwin,AU,,\n"
    "Hobart,AU,,\n"
    f'"{HOSTILE}",AU,-23.7,133.88\n'
    "Xyzzyville,AU,,\n"
)
BACKTEST_FROM, BACKTEST_TO = "2016-06-27", "2016-06-30"  # the last day has no next day
