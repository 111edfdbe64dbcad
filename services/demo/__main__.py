from services.demo.cli import main

raise SystemExit(main())
