import sys

from bot.trainer.cli import main

sys.exit(main())
