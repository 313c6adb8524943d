from modelkeel.cli import main

raise SystemExit(main())
