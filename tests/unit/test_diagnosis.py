def test_x():
    import orchestrator.diagnosis
