"""(being built)"""

from experience.platform import bp as bp
