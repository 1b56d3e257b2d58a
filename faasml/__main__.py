from faasml.cli import main

raise SystemExit(main())
