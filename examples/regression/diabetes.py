"""scikit-learn's diabetes table (442 patients, 10 features, a disease-progression score; it ships offline), split
60/20/20 and standardised with the training split's statistics, as (train, val, test) TensorDatasets."""

import numpy as np
import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset


def load(seed: int = 0):
    x, y = load_diabetes(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=seed)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=seed)
    mean, std, y_mean, y_std = x_train.mean(0), x_train.std(0), y_train.mean(), y_train.std()

    def dataset(x, y):
        return TensorDataset(torch.tensor((x - mean) / std, dtype=torch.float32),
                             torch.tensor((y - y_mean) / y_std, dtype=torch.float32))

    return dataset(x_train, y_train), dataset(x_val, y_val), dataset(x_test, y_test)


if __name__ == "__main__":  # the error of always predicting the training mean, to read the search's val_mse against
    _, val, _ = load()
    print("val_mse of the mean:", float(np.var(val.tensors[1].numpy()) + val.tensors[1].mean() ** 2))
