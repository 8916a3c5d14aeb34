History = Sequential = load_model = None
